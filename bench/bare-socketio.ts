/*
 * The floor under upwire's transfer phase: socket.io alone carrying binary frames of the same size with the
 * same bytes in flight, written at their offset, no hashing, no LevelDB.
 *   node bare-socketio.js server <file-to-write>      prints its URL
 *   node bare-socketio.js client <url> <file> <frameSize> <frames in flight>   prints {"seconds": n}
 */
import { open } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'server') {
  const file = await open(args[0]!, 'w');
  const http = createServer();
  const server = new Server(http, { maxHttpBufferSize: 17 * 1024 * 1024, serveClient: false, perMessageDeflate: false });
  server.on('connection', (socket) => {
    socket.on('chunk', async ({ offset, data }: { offset: number; data: Buffer }, ack: (r: object) => void) => {
      await file.write(data, 0, data.length, offset);
      ack({ ok: true });
    });
  });
  http.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${(http.address() as AddressInfo).port}`));
  process.on('SIGTERM', () => process.exit(0));
} else {
  const [url, path, chunkArg, windowArg] = args;
  const chunkSize = Number(chunkArg);
  const file = await open(path!, 'r');
  const { size } = await file.stat();
  const socket = io(url!, { transports: ['websocket'] });
  await new Promise((resolve) => socket.once('connect', () => resolve(undefined)));
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: Number(windowArg) }, async () => {
    const buffer = Buffer.allocUnsafe(chunkSize);
    while (next < size) {
      const offset = next;
      next += chunkSize;
      const { bytesRead } = await file.read(buffer, 0, Math.min(chunkSize, size - offset), offset);
      await socket.emitWithAck('chunk', { offset, data: buffer.subarray(0, bytesRead) });
    }
  }));
  console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000 }));
  socket.disconnect();
  await file.close();
}
