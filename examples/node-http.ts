/**
 * upwire inside a plain node:http application that has routes and a socket.io namespace of its own.
 * upwire's HTTP side is under /uploads; socket.io stays where the application has it (/socket.io),
 * so the client is told: `{ url: 'http://host:port/uploads', path: '/socket.io' }`.
 * Run by test/e2e/embed.test.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { createUpwire, upwireSocketOptions } from 'upwire/server';
import type { ExampleOptions, RunningExample } from './express.js';

export async function startNodeHttpApp({ port = 3000, uploadDir, dbDir, logger }: ExampleOptions): Promise<RunningExample> {
  const upwire = await createUpwire({ uploadDir, dbDir, logger });
  const uploads = upwire.httpHandler({ basePath: '/uploads' });

  // upwire answers under /uploads only; every other request comes back through `next`.
  const http = createServer((req, res) => uploads(req, res, () => appRoutes(req, res)));
  const io = new Server(http, { ...upwireSocketOptions(), serveClient: false });
  io.of('/chat').on('connection', (socket) => {
    socket.on('say', (text: string, ack: (reply: string) => void) => ack(`echo: ${text}`));
  });
  upwire.attach(io, { namespace: '/upload' });

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

function appRoutes(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'GET' && req.url === '/api/hello') {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ hello: 'world' }));
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('no such page in this app\n');
  }
}
