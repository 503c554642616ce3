/**
 * upwire inside an Express 5 application that has routes and a socket.io namespace of its own.
 * Everything upwire answers lives under /uploads: its HTTP side (page, files, health, metrics) and,
 * here, socket.io itself, so the client needs nothing but `url: 'http://host:port/uploads'`.
 * Run by test/e2e/embed.test.ts.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Server } from 'socket.io';
import { createUpwire, upwireSocketOptions, type UpwireOptions } from 'upwire/server';

export interface ExampleOptions {
  port?: number;
  uploadDir: string;
  dbDir: string;
  logger?: UpwireOptions['logger'];
}

export interface RunningExample {
  url: string;
  close(): Promise<void>;
}

export async function startExpressApp({ port = 3000, uploadDir, dbDir, logger }: ExampleOptions): Promise<RunningExample> {
  const upwire = await createUpwire({ uploadDir, dbDir, logger });

  const app = express();
  app.get('/api/hello', (_req, res) => {
    res.json({ hello: 'world' });
  });
  // Express strips /uploads before upwire sees the request; what upwire does not serve goes on to Express.
  app.use('/uploads', upwire.httpHandler({ basePath: '/uploads' }));

  const http = createServer(app);
  // One socket.io server for the app and upwire. upwire's options apply to all of it: larger
  // messages (its frames), a longer heartbeat, one binary attachment per packet.
  const io = new Server(http, { ...upwireSocketOptions(), path: '/uploads/socket.io', serveClient: false });
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
