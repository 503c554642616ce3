import type { Socket as NetSocket } from 'node:net';
import { io, type Socket } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../src/protocol/index.js';
import { median } from './util.js';

async function connected(url: string): Promise<Socket> {
  const socket = io(`${url}/upload`, { transports: ['websocket'], reconnection: false, auth: { protocol: PROTOCOL_VERSION } });
  await new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(undefined));
    socket.once('connect_error', reject);
  });
  return socket;
}

/**
 * Round trips of a cheap request (`status`) from another connection, every 20 ms until stopped:
 * how long the server makes other clients wait while it is busy.
 */
export async function latencyProbe(url: string): Promise<{ stop: () => Promise<{ p50: number; p99: number; max: number }> }> {
  const socket = await connected(url);
  const times: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      await socket.emitWithAck('status', { md5: '0'.repeat(32) });
      times.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      socket.disconnect();
      const sorted = [...times].sort((a, b) => a - b);
      return { p50: median(sorted), p99: sorted[Math.floor(sorted.length * 0.99)] ?? NaN, max: sorted.at(-1) ?? NaN };
    },
  };
}

/** A watcher of every upload that stops reading its socket at once. */
export async function stalledWatcher(url: string): Promise<{ close: () => void }> {
  const socket = await connected(url);
  await socket.emitWithAck('watch', {});
  const tcp = (socket.io.engine.transport as unknown as { ws: { _socket: NetSocket } }).ws._socket;
  tcp.pause();
  return { close: () => socket.disconnect() };
}
