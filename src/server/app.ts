import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Server } from 'socket.io';
import type { ClientToServerEvents, ServerToClientEvents } from '../protocol/index.js';
import type { ServerConfig } from './config/config.js';
import { createLogger, type Logger } from './observe/log.js';
import type { UploadService } from './upload/service.js';
import { createUpwire, upwireSocketOptions, type UpwireOptions } from './upwire.js';

export interface UpwireServer {
  /** Base URL, e.g. http://127.0.0.1:3000 (the real port when config.port was 0). */
  readonly url: string;
  readonly port: number;
  readonly service: UploadService;
  /**
   * Stops accepting connections; with `drainMs`, lets downloads and the chunk frames already
   * received finish for up to that long (new writes get a retryable E_BUSY); then disconnects
   * everyone, lets in-flight writes finish and closes the database.
   */
  close(options?: { drainMs?: number }): Promise<void>;
}

/**
 * `upwire serve`: upwire on a server and a port of its own, built on the same createUpwire that
 * applications embed. The page is served at / beside socket.io at /socket.io, so it finds its
 * socket by a relative path, also behind a proxy that mounts the whole server under a prefix.
 */
export async function startServer(config: ServerConfig, options: { logger?: Logger; hooks?: UpwireOptions['hooks'] } = {}): Promise<UpwireServer> {
  const { port, logLevel, ...settings } = config;
  const upwire = await createUpwire({ ...settings, logger: options.logger ?? createLogger(logLevel), ...(options.hooks ? { hooks: options.hooks } : {}) });
  try {
    // The HTTP handler is registered before socket.io attaches, so socket.io can route around it.
    const handle = upwire.httpHandler({ socketPath: 'socket.io' });
    // Responses in flight (downloads, mostly), for the drain.
    let responding = 0;
    const http = createServer((req, res) => {
      responding++;
      res.once('close', () => responding--);
      handle(req, res);
    });
    const io = new Server<ClientToServerEvents, ServerToClientEvents>(http, { ...upwireSocketOptions(), serveClient: false });
    upwire.attach(io);
    await listen(http, port, config.host);
    const { port: actual } = http.address() as AddressInfo;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    return {
      url: `http://${host}:${actual}`,
      port: actual,
      service: upwire.service,
      async close({ drainMs = 0 } = {}) {
        http.close(); // no new connections; the callback would wait for the WebSockets too
        http.closeIdleConnections();
        const deadline = Date.now() + drainMs;
        await Promise.all([
          upwire.drain(drainMs),
          (async () => {
            while (responding > 0 && Date.now() < deadline) await sleep(20);
          })(),
        ]);
        const closed = new Promise<void>((resolve) => io.close(() => resolve()));
        http.closeAllConnections();
        await closed;
        await upwire.close();
      },
    };
  } catch (err) {
    await upwire.close();
    throw err;
  }
}

function listen(http: HttpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
}
