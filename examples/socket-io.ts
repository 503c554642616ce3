/**
 * upwire on the socket.io server of an application that has one already, and nothing else: no
 * page, no /files (no httpHandler), and a namespace of the application's choosing, so the client
 * is told: `{ url: 'http://host:port', namespace: '/files-in' }`.
 * Run by test/e2e/embed.test.ts.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { createUpwire, upwireSocketOptions } from 'upwire/server';
import type { ExampleOptions, RunningExample } from './express.js';

export async function startSocketIoApp({ port = 3000, uploadDir, dbDir, logger }: ExampleOptions): Promise<RunningExample> {
  const upwire = await createUpwire({ uploadDir, dbDir, logger });

  const http = createServer((_req, res) => res.writeHead(404).end());
  // Created on its server, so that attach() can check the options it was given.
  const io = new Server(http, { ...upwireSocketOptions(), serveClient: false });
  io.on('connection', (socket) => {
    socket.on('say', (text: string, ack: (reply: string) => void) => ack(`echo: ${text}`));
  });
  upwire.attach(io, { namespace: '/files-in' });

  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    async close() {
      const closed = new Promise<void>((resolve) => io.close(() => resolve())); // closes `http` too
      http.closeAllConnections();
      await closed;
      await upwire.close();
    },
  };
}
