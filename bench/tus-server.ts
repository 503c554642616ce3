/**
 * @tus/server with its FileStore on a directory, on a free port:
 * `node tus-server.js <dir> [host]` prints its URL.
 */
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const host = process.argv[3] ?? '127.0.0.1';
const tus = new Server({ path: '/files', datastore: new FileStore({ directory: process.argv[2]! }) });
const http = createServer((req, res) => void tus.handle(req, res));
http.listen(0, host, () => {
  console.log(`listening on http://${host}:${(http.address() as AddressInfo).port}/files/`);
});
process.on('SIGTERM', () => http.close(() => process.exit(0)));
