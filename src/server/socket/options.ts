import type { Server as IoServer, ServerOptions as IoServerOptions } from 'socket.io';
import { Decoder, Encoder } from 'socket.io-parser';
import { KiB, MAX_FRAME_SIZE, MiB } from '../../protocol/index.js';
import { ConfigError } from '../model/errors.js';

/** The largest WebSocket message accepted: one frame of the largest size plus room for its packet. */
export const MAX_FRAME_BYTES = MAX_FRAME_SIZE + 64 * KiB;

/** Frame bytes one connection may hold in the server: an honest client's largest window, and one frame. */
export const MAX_CONNECTION_BUFFER = 16 * MiB + MAX_FRAME_SIZE;

/**
 * Heartbeat. A client's pong travels behind the data it has queued, which its flow control keeps
 * to about a second (see client/flow.ts); 30 s leaves room for TCP's retransmission backoff on a
 * lossy link, and a peer that vanished is noticed within 25 + 30 s. The client notices a dead
 * link sooner, from the progress of its own requests.
 */
export const PING_INTERVAL_MS = 25_000;
export const PING_TIMEOUT_MS = 30_000;

/**
 * socket.io's parser, limited to one binary attachment per packet (it accepts 10 by default): a
 * chunk frame carries one, and a packet that announces more could make the server hold that many
 * frames for one request.
 */
class OneAttachmentDecoder extends Decoder {
  constructor() {
    super({ maxAttachments: 1 });
  }
}

/** The socket.io server options upwire needs: give them to the `new Server(...)` that upwire attaches to. */
export function upwireSocketOptions(): Partial<IoServerOptions> {
  return {
    maxHttpBufferSize: MAX_FRAME_BYTES,
    pingInterval: PING_INTERVAL_MS,
    pingTimeout: PING_TIMEOUT_MS,
    parser: { Encoder, Decoder: OneAttachmentDecoder },
    perMessageDeflate: false,
  };
}

/** Refuses a socket.io server that would close a connection at its first full frame (created without upwireSocketOptions()). */
export function checkSocketServer(io: IoServer): void {
  // The engine's options once it is bound to an HTTP server, the Server's own before.
  const options = (io.engine as unknown as { opts?: Partial<IoServerOptions> } | undefined)?.opts ?? (io as unknown as { opts?: Partial<IoServerOptions> }).opts;
  const limit = options?.maxHttpBufferSize ?? 1e6; // socket.io's default
  if (limit < MAX_FRAME_BYTES) {
    throw new ConfigError(`the socket.io server takes messages of ${limit} bytes, and upwire's frames need ${MAX_FRAME_BYTES}: create it with upwireSocketOptions()`);
  }
}
