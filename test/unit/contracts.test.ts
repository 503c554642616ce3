import { join } from 'node:path';
import { FileSystemBytes } from '../../src/server/bytes/file-system.js';
import { MemoryBytes } from '../../src/server/bytes/memory.js';
import { MemoryLocker } from '../../src/server/lock/memory.js';
import { LevelStores } from '../../src/server/store/level.js';
import { MemoryStores } from '../../src/server/store/memory.js';
import { byteStoreContract } from '../contract/byte-store.js';
import { lockerContract } from '../contract/locker.js';
import { stateStoreContract } from '../contract/state-store.js';
import { tempDir } from '../support/fixtures.js';

const nothing = async () => {};

byteStoreContract('file system', async () => {
  const dir = await tempDir();
  return { store: new FileSystemBytes(dir.path, { maxOpenFiles: 1 }), chunkSize: 64 * 1024, cleanup: dir.remove };
});
byteStoreContract('memory', async () => ({ store: new MemoryBytes(), chunkSize: 64 * 1024, cleanup: nothing }));

lockerContract('memory (one process)', async () => ({ locker: new MemoryLocker(), cleanup: nothing }));

stateStoreContract('LevelDB', async () => {
  const dir = await tempDir();
  const stores = new LevelStores(join(dir.path, 'db'));
  await stores.open();
  return {
    uploads: stores,
    files: stores,
    cleanup: async () => {
      await stores.close();
      await dir.remove();
    },
  };
});
stateStoreContract('memory', async () => {
  const stores = new MemoryStores();
  return { uploads: stores, files: stores, cleanup: nothing };
});
