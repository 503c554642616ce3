import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { MiB, UPLOAD_NAMESPACE, chunkCount, type Range } from '../../src/protocol/index.js';

/*
 * A hostile (or just wrong) server for client tests: a real socket.io server on port 0 whose
 * /upload handlers answer whatever the test wants, so the real client can be run against answers
 * the real server never gives. No validation, no storage: the handlers are the whole server.
 */

export type FakeEvent = 'init' | 'chunk' | 'merge' | 'status' | 'abort' | 'watch' | 'unwatch' | 'preflight';
/**
 * What a handler answers, sent as the ack as is (not necessarily a valid Result).
 * NEVER: no answer at all, the request stays unanswered.
 */
export type FakeHandler = (request: Record<string, unknown>, socket: Socket) => unknown;
export const NEVER = Symbol('never answer');

export interface FakeServer {
  url: string;
  /** Requests received so far, by event, in order. */
  requests: Record<FakeEvent, Record<string, unknown>[]>;
  stop(): Promise<void>;
}

const EVENTS: FakeEvent[] = ['init', 'chunk', 'merge', 'status', 'abort', 'watch', 'unwatch', 'preflight'];
/** Answered when the test gives no handler: a preflight passes (it promises nothing), anything else is refused. */
const DEFAULTS: Partial<Record<FakeEvent, FakeHandler>> = { preflight: () => ok({}) };

export async function startFakeServer(handlers: Partial<Record<FakeEvent, FakeHandler>>): Promise<FakeServer> {
  const http = createServer();
  // Frames are up to 1 MiB of data: socket.io's default limit (1 MB) would drop the connection.
  const io = new Server(http, { maxHttpBufferSize: 4 * MiB, transports: ['websocket'] });
  const requests = Object.fromEntries(EVENTS.map((e) => [e, []])) as unknown as FakeServer['requests'];
  io.of(UPLOAD_NAMESPACE).on('connection', (socket) => {
    for (const event of EVENTS) {
      socket.on(event, async (request: Record<string, unknown>, ack: unknown) => {
        requests[event].push(request);
        const handler = handlers[event] ?? DEFAULTS[event];
        const answer = handler ? await handler(request, socket) : fail('E_BAD_REQUEST', `${event} is not handled by this fake`);
        if (answer !== NEVER && typeof ack === 'function') ack(answer);
      });
    }
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () => io.close(),
  };
}

export function ok(answer: object): Record<string, unknown> {
  return { ok: true, ...answer };
}

export function fail(code: string, message: string, details: object = {}): Record<string, unknown> {
  return { ok: false, error: { ...details, code, message } };
}

/** A well-formed partial status for an upload of `size` bytes, `missing` given or all. */
export function partial(md5: string, size: number, chunkSize: number, missing?: Range[]): Record<string, unknown> {
  const total = chunkCount(size, chunkSize);
  const ranges = missing ?? (total === 0 ? [] : [[0, total]]);
  return ok({ status: 'partial', md5, size, chunkSize, total, missing: ranges, next: ranges[0]?.[0] ?? null });
}

/** A well-formed stored file. */
export function complete(md5: string, size: number, name = 'file.bin'): Record<string, unknown> {
  return ok({ status: 'complete', file: { md5, size, name, type: 'application/octet-stream', url: `/files/${md5}` } });
}

/** The answer the real server gives to a frame that completes its chunk, given the chunks stored then. */
export function stored(request: Record<string, unknown>, received: number): Record<string, unknown> {
  const total = request.total as number;
  return ok({ index: request.index, offset: request.offset ?? 0, accepted: true, stored: true, next: received < total ? received : null, received, total });
}
