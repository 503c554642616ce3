/*
 * Where a frame's bytes wait before the intake admits it, read from the `ws` WebSocket under
 * engine.io's websocket transport (ws ~8.21, pinned in package.json because of this file).
 *
 * ws reads its net.Socket in 'data' events of at most 64 KiB and writes each one into its Receiver,
 * a Writable that keeps the bytes of the message still arriving (`_bufferedBytes`, and `_fragments`
 * for a message sent in fragments) until the message is whole, then emits 'message' synchronously
 * (allowSynchronousEvents, ws's default, which engine.io keeps). engine.io and socket.io decode it
 * at once and the handler admits the frame on the next tick, before the next socket read.
 *
 * So after ws's own 'data' listener, one of ours (added later, so it runs after) reads what ws
 * holds, and a 'message' listener (after engine.io's) tells the intake of each message decoded.
 * Pausing goes through ws's public pause()/resume(), which stop reading the socket.
 */
import type { ConnectionIntake, Reader } from './intake.js';

interface Receiver {
  _bufferedBytes: number;
  _fragments: Uint8Array[];
  /** The largest message ws assembles (engine.io sets it to maxHttpBufferSize); 0 is unlimited. */
  _maxPayload: number;
  writableLength: number;
}

interface NetSocket {
  readableLength: number;
  on(event: 'data', listener: () => void): unknown;
  off(event: 'data', listener: () => void): unknown;
}

interface WebSocketLike {
  _socket: NetSocket;
  _receiver: Receiver;
  pause(): void;
  resume(): void;
  on(event: 'message', listener: (data: unknown) => void): unknown;
  off(event: 'message', listener: (data: unknown) => void): unknown;
}

/**
 * Counts and paces `candidate` for `connection` if it is a ws WebSocket with the buffers this file
 * reads (and a bounded message size); undefined otherwise, and then nothing is attached.
 */
export function readWebSocket(candidate: unknown, connection: ConnectionIntake): { reader: Reader; maxMessage: number; detach: () => void } | undefined {
  if (!isWebSocket(candidate)) return undefined;
  const ws = candidate;
  const receiver = ws._receiver;
  const socket = ws._socket;
  const held = () => receiver._bufferedBytes + fragmentBytes(receiver._fragments) + receiver.writableLength + socket.readableLength;
  const onMessage = (data: unknown) => connection.decoded(byteLength(data));
  const onData = () => connection.read(held());
  ws.on('message', onMessage);
  socket.on('data', onData);
  return {
    reader: { pause: () => ws.pause(), resume: () => ws.resume() },
    maxMessage: receiver._maxPayload,
    detach: () => {
      ws.off('message', onMessage);
      socket.off('data', onData);
    },
  };
}

function isWebSocket(value: unknown): value is WebSocketLike {
  const ws = value as Partial<WebSocketLike> | undefined;
  const receiver = ws?._receiver;
  const socket = ws?._socket;
  return typeof ws?.pause === 'function' && typeof ws.resume === 'function' && typeof ws.on === 'function'
    && typeof receiver?._bufferedBytes === 'number' && Array.isArray(receiver._fragments)
    && typeof receiver._maxPayload === 'number' && receiver._maxPayload > 0 && typeof receiver.writableLength === 'number'
    && typeof socket?.on === 'function' && typeof socket.readableLength === 'number';
}

function fragmentBytes(fragments: Uint8Array[]): number {
  let bytes = 0;
  for (const fragment of fragments) bytes += fragment.byteLength;
  return bytes;
}

/** A message as ws emits it: a Buffer, or an ArrayBuffer or a list of Buffers for other binaryTypes. */
function byteLength(data: unknown): number {
  if (Array.isArray(data)) return fragmentBytes(data as Uint8Array[]);
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}
