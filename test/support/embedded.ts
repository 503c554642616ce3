/*
 * upwire embedded as an application would: createUpwire on its own node:http server and socket.io
 * server, on port 0 with temp directories. For the hooks, principals and drain tests.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { createUpwire, upwireSocketOptions, type Upwire, type UpwireOptions } from '../../src/server/index.js';
import { createLogger } from '../../src/server/observe/log.js';
import { tempDir } from './fixtures.js';

export interface Embedded {
  url: string;
  upwire: Upwire;
  uploadDir: string;
  /** Closes upwire and the servers and removes the directories (twice is harmless). */
  stop(): Promise<void>;
}

/** An authorize hook for tests: the token `user:<id>` is principal <id>; `watch:<id>` a watcher; anything else is refused. */
export const userTokens: NonNullable<UpwireOptions['hooks']>['authorize'] = ({ token }) => {
  const match = typeof token === 'string' ? /^(user|watch):(\w+)$/.exec(token) : null;
  return match ? { id: match[2]!, role: match[1] === 'watch' ? 'watch' : 'upload' } : undefined;
};

export async function startEmbedded(options: UpwireOptions = {}, dirs?: { uploadDir: string; dbDir: string }): Promise<Embedded> {
  const dir = await tempDir();
  const uploadDir = dirs?.uploadDir ?? join(dir.path, 'uploads');
  const upwire = await createUpwire({
    uploadDir, dbDir: dirs?.dbDir ?? join(dir.path, 'db'), chunkSize: 64 * 1024, fsync: false, logger: createLogger('silent', false), ...options,
  });
  const http = createServer(upwire.httpHandler());
  const io = new Server(http, { ...upwireSocketOptions(), serveClient: false });
  upwire.attach(io);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  let stopped = false;
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    upwire,
    uploadDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => io.close(() => resolve()));
      http.closeAllConnections();
      await upwire.close();
      await dir.remove();
    },
  };
}
