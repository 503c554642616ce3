import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Proxy {
  url: string;
  /** Resets every open connection, as a network drop would. */
  cut(): void;
  /** Limits client-to-server bytes per second (0: unlimited). */
  throttle(bytesPerSecond: number): void;
  /** New connections go to this server from now on (a restarted server on another port). */
  retarget(url: string): void;
  /** Client-to-server bytes forwarded since the last reset. */
  bytesUp: number;
  /** Open connections stop carrying bytes either way but stay open (half-open); new ones work. */
  blackhole(): void;
  close(): Promise<void>;
}

/** A TCP proxy on loopback in front of a test server, to cut or slow the traffic. */
export async function startProxy(targetUrl: string, bytesPerSecond = 0): Promise<Proxy> {
  let target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  const silenced = new WeakSet<Socket>();
  let rate = bytesPerSecond;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.on('data', (data: Buffer) => {
      if (silenced.has(client)) return;
      proxy.bytesUp += data.length;
      upstream.write(data);
      if (rate > 0) {
        client.pause();
        setTimeout(() => client.resume(), (data.length / rate) * 1000);
      }
    });
    upstream.on('data', (data: Buffer) => {
      if (!silenced.has(client)) client.write(data);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const cut = () => {
    for (const s of sockets) s.resetAndDestroy();
  };
  const proxy: Proxy = {
    url: `http://127.0.0.1:${port}`,
    cut,
    throttle: (r) => (rate = r),
    retarget: (url) => (target = new URL(url)),
    blackhole: () => sockets.forEach((s) => silenced.add(s)),
    bytesUp: 0,
    close: () => {
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
