import { io, type Socket } from 'socket.io-client';
import {
  UPLOAD_NAMESPACE, UpwireError,
  type Answer, type ClientToServerEvents, type RequestName, type RequestOf, type Result, type ServerToClientEvents,
} from '../protocol/index.js';
import { ChunkWindow } from './chunk-window.js';

export interface ConnectionOptions {
  url: string;
  token?: string;
  /** Failed connection attempts in a row before giving up with E_UNREACHABLE. */
  retries: number;
  /** How long one request may wait for its answer. */
  timeoutMs: number;
  /** Chunks in flight at once on this connection, across all its uploads. */
  window: number;
}

export type UploadClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/**
 * The one socket.io connection to /upload, with requests as promises. socket.io-client reconnects
 * with backoff on its own; requests made while disconnected fail at once (E_DISCONNECTED) rather
 * than queue, and a drop fails every request still waiting, so the caller re-synchronises.
 */
export class Connection {
  readonly socket: UploadClientSocket;
  readonly window: ChunkWindow;
  readonly #options: ConnectionOptions;
  readonly #pending = new Set<(err: UpwireError) => void>();
  #failedAttempts = 0;
  #fatal: UpwireError | undefined;

  constructor(options: ConnectionOptions) {
    this.#options = options;
    this.window = new ChunkWindow(options.window);
    const base = options.url.replace(/\/+$/, '');
    this.socket = io(`${base}${UPLOAD_NAMESPACE}`, {
      auth: options.token === undefined ? {} : { token: options.token },
      transports: ['websocket'],
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      timeout: options.timeoutMs,
    });
    this.socket.on('connect', () => (this.#failedAttempts = 0));
    this.socket.on('connect_error', (err) => {
      const code = (err as Error & { data?: { code?: unknown } }).data?.code;
      if (code === 'E_UNAUTHORIZED') this.#fail(new UpwireError('E_UNAUTHORIZED', 'the server refused the token'));
      else if (++this.#failedAttempts > options.retries) this.#fail(new UpwireError('E_UNREACHABLE', `cannot reach ${options.url}: ${err.message}`));
    });
    this.socket.on('disconnect', (reason) => this.#rejectPending(new UpwireError('E_DISCONNECTED', `connection lost (${reason})`)));
  }

  /** Resolves when connected; rejects when the server refuses us or stays unreachable. */
  connected(): Promise<void> {
    if (this.#fatal) return Promise.reject(this.#fatal);
    if (this.socket.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: UpwireError) => {
        this.socket.off('connect', onConnect);
        this.#pending.delete(done);
        if (err) reject(err);
        else resolve();
      };
      const onConnect = () => done();
      this.socket.on('connect', onConnect);
      this.#pending.add(done);
    });
  }

  async request<E extends RequestName>(event: E, payload: RequestOf<E>): Promise<Answer<E>> {
    if (this.#fatal) throw this.#fatal;
    if (!this.socket.connected) throw new UpwireError('E_DISCONNECTED', 'not connected');
    let cancel!: (err: UpwireError) => void;
    const dropped = new Promise<never>((_, reject) => (cancel = reject));
    this.#pending.add(cancel);
    try {
      // The typed emitWithAck cannot take a generic event name; the answer is checked below.
      const timed = this.socket.timeout(this.#options.timeoutMs);
      const answer = (timed.emitWithAck as (ev: string, p: unknown) => Promise<Result<Answer<E>>>).call(timed, event, payload);
      answer.catch(() => {}); // after a drop nobody awaits it; its later timeout must not go unhandled
      const result = await Promise.race([answer, dropped]);
      if (result.ok) return result;
      throw UpwireError.fromWire(result.error);
    } catch (err) {
      if (err instanceof UpwireError) throw err;
      if (!/timed out/i.test((err as Error).message)) throw err;
      throw new UpwireError('E_TIMEOUT', `${event}: no answer within ${this.#options.timeoutMs} ms`, {}, { cause: err });
    } finally {
      this.#pending.delete(cancel);
    }
  }

  /**
   * Drops the socket and opens a new one. After a request timed out the connection may be
   * half-open (the peer gone without a FIN), which socket.io would notice only at its ping timeout.
   */
  reconnect(): void {
    if (this.#fatal) return;
    this.socket.disconnect();
    this.socket.connect();
  }

  close(): void {
    this.#rejectPending(new UpwireError('E_ABORTED'));
    this.socket.disconnect();
  }

  #fail(err: UpwireError): void {
    this.#fatal = err;
    this.socket.disconnect();
    this.#rejectPending(err);
  }

  #rejectPending(err: UpwireError): void {
    for (const reject of [...this.#pending]) reject(err);
    this.#pending.clear();
  }
}
