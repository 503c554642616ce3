import { expect } from 'chai';
import { Level } from 'level';
import { join } from 'node:path';
import { LevelStores } from '../../src/server/store/level.js';
import { tempDir } from '../support/fixtures.js';

describe('LevelDB: the entries index by md5', () => {
  it('is built at open() from entries written before it existed, once', async () => {
    const dir = await tempDir();
    const location = join(dir.path, 'db');
    const md5 = 'a'.repeat(32);
    try {
      // As the version before delete wrote them: the `entries` sublevel alone.
      const old = new Level<string, string>(location);
      const entries = old.sublevel<string, object>('entries', { valueEncoding: 'json' });
      for (const owner of ['alice', 'bob']) await entries.put(`${owner}\n${md5}`, { owner, md5, name: 'x', type: 'x/y', createdAt: 1 });
      await old.close();
      let stores = new LevelStores(location);
      await stores.open();
      expect(await stores.hasEntries(md5)).to.equal(true);
      await stores.deleteEntry('alice', md5, true);
      expect(await stores.hasEntries(md5), 'bob is left').to.equal(true);
      await stores.deleteEntry('bob', md5, true);
      expect(await stores.hasEntries(md5)).to.equal(false);
      await stores.close();
      stores = new LevelStores(location);
      await stores.open(); // marked done: the deleted entries do not come back
      expect(await stores.hasEntries(md5)).to.equal(false);
      await stores.close();
    } finally {
      await dir.remove();
    }
  });
});
