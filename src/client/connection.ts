import { io, type Socket } from 'socket.io-client';
import {
  MIN_PROTOCOL_VERSION, parseResult, PREFLIGHT_PROTOCOL_VERSION, PROTOCOL_VERSION, UPLOAD_NAMESPACE, UpwireError,
  type ChunkRequest, type ClientToServerEvents, type RequestName, type RequestOf,
  type ServerToClientEvents,
} from '../protocol/index.js';
import { BufferPool } from './buffer-pool.js';
import { FlowControl, type Credit, type FlowOptions } from './flow.js';

/** A token, or a function that gives one: called again at every reconnection (a token that expires). */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

export interface ConnectionOptions extends Partial<FlowOptions> {
  /** The server's URL; a path in it is where the server is mounted (`https://example.com/uploads`). */
  url: string;
  token?: TokenSource;
  /** socket.io's path on the server; default: `<the URL's path>/socket.io`. */
  path?: string;
  /** The namespace upwire serves on; default `/upload`. */
  namespace?: string;
  /** Failed connection attempts in a row before giving up with E_UNREACHABLE. */
  retries: number;
  /**
   * The most bytes the socket may hold unsent (its WebSocket's bufferedAmount) before another frame
   * is read and handed to it; the frame waits meanwhile (see Connection.roomToSend). Default: no limit.
   */
  maxUnsent?: number;
  /**
   * How long a request may go unanswered once it is its turn (every request sent before it is
   * answered), and how long the server may stay silent while requests wait. Not a deadline per
   * request: on a slow link a request queued behind data is late only once that data has crossed.
   */
  timeoutMs: number;
}

export type UploadClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** How often a frame waiting for the socket's queue to drain looks again, when no packet came meanwhile. */
const ROOM_POLL_MS = 2;

/** Where socket.io is: the URL's origin, and `path` or the URL's path followed by /socket.io. */
export function socketAddress(options: Pick<ConnectionOptions, 'url' | 'path'>): { origin: string; path: string } {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new UpwireError('E_BAD_REQUEST', `not a URL: ${JSON.stringify(options.url)}`);
  }
  const mount = url.pathname.replace(/\/+$/, '');
  return { origin: url.origin, path: options.path ?? `${mount}/socket.io` };
}

/**
 * A refusal no retry can change: fails the connection at once, with its code. A server that is
 * reached but has no upwire on that namespace answers "Invalid namespace" (a URL with a wrong path
 * used to hang here, or exit 0 with no result).
 */
function handshakeRefusal(err: Error, options: ConnectionOptions, tokenSent: boolean): UpwireError | undefined {
  const data = (err as Error & { data?: { code?: unknown; message?: unknown } }).data;
  const code = data?.code;
  const said = typeof data?.message === 'string' ? data.message : err.message;
  if (code === 'E_UNAUTHORIZED') return new UpwireError('E_UNAUTHORIZED', tokenSent ? 'the server refused the token' : 'the server needs a token');
  if (code === 'E_FORBIDDEN' || code === 'E_PROTOCOL') return new UpwireError(code, said.slice(0, 300));
  if (err.message === 'Invalid namespace') {
    return new UpwireError('E_NOT_FOUND', `${options.url} answers, but serves no upwire on ${options.namespace ?? UPLOAD_NAMESPACE} (check the URL's path, and the path and namespace options)`);
  }
  return undefined;
}

/** The version an older server speaks, when it refused ours with E_PROTOCOL, and this client speaks it too. */
function olderServer(err: Error, stated: number): number | undefined {
  const data = (err as Error & { data?: { code?: unknown; server?: unknown } }).data;
  const server = data?.server;
  if (data?.code !== 'E_PROTOCOL' || typeof server !== 'number' || !Number.isInteger(server)) return undefined;
  return server >= MIN_PROTOCOL_VERSION && server < stated ? server : undefined;
}

/**
 * Whether socket.io answers at `path` at all. A path where nothing is mounted fails the WebSocket
 * upgrade with a bare "websocket error", which looks like a server that is down; one plain GET of
 * engine.io's handshake tells them apart: engine.io answers it (an open packet, or a JSON error
 * with a numeric code), anything else does not. Undefined when it cannot tell (no answer).
 *
 * In a browser, a server of another origin that sends no CORS headers (a 404 of a wrong path does
 * not) hides its answer: the fetch fails as if nothing answered, and the client used to retry for
 * 20 s before E_UNREACHABLE. A second, `no-cors` fetch tells the two apart: it gets an opaque
 * answer from any HTTP server, and fails only when nothing answers. Something answers HTTP there
 * while the WebSocket upgrade at that path failed: no socket.io is there (WebSockets are not
 * subject to CORS, and upwire refuses an origin at the handshake, with E_FORBIDDEN).
 */
async function engineIoAnswersAt(origin: string, path: string): Promise<boolean | undefined> {
  const url = `${origin}${path}/?EIO=4&transport=polling`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const text = (await response.text()).slice(0, 200);
    return text.startsWith('0{') || /^\{"code":\d+,/.test(text);
  } catch {
    // Not a browser (no CORS), or the same origin: nothing answered.
    if (typeof location === 'undefined' || location.origin === origin) return undefined;
  }
  try {
    const response = await fetch(url, { mode: 'no-cors', signal: AbortSignal.timeout(5000) });
    return response.type === 'opaque' ? false : undefined;
  } catch {
    return undefined;
  }
}

interface Pending {
  event: RequestName;
  /** When it became the oldest request waiting (its turn), or when it was sent if it was already. */
  turnSince: number;
  fail: (err: UpwireError) => void;
}

/**
 * The one socket.io connection to /upload, with requests as promises and chunk frames under flow
 * control (see flow.ts). socket.io-client reconnects with backoff on its own; requests made while
 * disconnected fail at once (E_DISCONNECTED) rather than queue, and a drop fails every request
 * still waiting, so the caller re-synchronises. A request that is late, or a server silent while
 * requests wait (a half-open connection), fails with E_TIMEOUT and the socket is replaced.
 */
export class Connection {
  readonly socket: UploadClientSocket;
  readonly flow: FlowControl;
  /** Frame buffers, shared by the uploads on this connection like the window is. */
  readonly buffers = new BufferPool();
  /** Times the socket connected again after a drop. */
  reconnects = 0;
  readonly #options: ConnectionOptions;
  /** Requests waiting for their answer, oldest first (a Map keeps insertion order). */
  readonly #pending = new Map<number, Pending>();
  readonly #waitingForConnect = new Set<(err: UpwireError) => void>();
  #nextId = 0;
  #lastHeard = 0;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #failedAttempts = 0;
  #everConnected = false;
  #probed = false;
  #fatal: UpwireError | undefined;
  /** Frames waiting for the socket's unsent bytes to fall to `maxUnsent`, and the timer that looks. */
  #roomWaiters: (() => void)[] = [];
  #roomTimer: ReturnType<typeof setTimeout> | undefined;
  /** The version stated in the handshake: PROTOCOL_VERSION, or an older server's own (see below). */
  #protocol = PROTOCOL_VERSION;
  /** Whether the last handshake carried a token: a refusal without one says that one is needed. */
  #tokenSent = false;

  constructor(options: ConnectionOptions) {
    this.#options = options;
    this.flow = new FlowControl({
      ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
      ...(options.targetDelayMs === undefined ? {} : { targetDelayMs: options.targetDelayMs }),
      ...(options.maxFrameSize === undefined ? {} : { maxFrameSize: options.maxFrameSize }),
    });
    const { origin, path } = socketAddress(options);
    const { token } = options;
    this.socket = io(`${origin}${options.namespace ?? UPLOAD_NAMESPACE}`, {
      path,
      // A function, so that a token that changes is asked for again at each reconnection.
      auth: (give) => {
        Promise.resolve(typeof token === 'function' ? token() : token).then(
          (value) => {
            this.#tokenSent = value !== undefined;
            give(value === undefined ? { protocol: this.#protocol } : { token: value, protocol: this.#protocol });
          },
          () => {
            this.#tokenSent = false;
            give({ protocol: this.#protocol });
          },
        );
      },
      transports: ['websocket'],
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      timeout: options.timeoutMs,
    });
    this.socket.on('connect', () => {
      this.#failedAttempts = 0;
      if (this.#everConnected) this.reconnects++;
      this.#everConnected = true;
      this.flow.reset();
    });
    this.socket.on('connect_error', (err) => {
      // A server of an older protocol that this client still speaks says which in its refusal: speak
      // it (without what came later, e.g. no preflight). socket.io does not retry a refusal by itself.
      const older = olderServer(err, this.#protocol);
      if (older !== undefined) {
        this.#protocol = older;
        this.socket.connect();
        return;
      }
      const refusal = handshakeRefusal(err, options, this.#tokenSent);
      if (refusal) return this.#fail(refusal);
      if (!this.#everConnected && !this.#probed) {
        this.#probed = true;
        void engineIoAnswersAt(origin, path).then((answers) => {
          if (answers === false && !this.socket.connected) {
            this.#fail(new UpwireError('E_NOT_FOUND', `${options.url} answers, but not as a socket.io server at ${path} (check the URL's path, and the path option)`));
          }
        });
      }
      if (++this.#failedAttempts > options.retries) this.#fail(new UpwireError('E_UNREACHABLE', `cannot reach ${options.url}: ${err.message}`));
    });
    this.socket.on('disconnect', (reason) => this.#failAll(new UpwireError('E_DISCONNECTED', `connection lost (${reason})`)));
    // Any packet or heartbeat from the server is a sign of life.
    const heard = () => {
      this.#lastHeard = Date.now();
      if (this.#roomWaiters.length > 0) this.#checkRoom();
    };
    this.socket.io.on('packet', heard);
    this.socket.io.on('ping', heard);
  }

  /** Whether the server takes a `preflight` (protocol 3 on): known once connected. */
  get preflights(): boolean {
    return this.#protocol >= PREFLIGHT_PROTOCOL_VERSION;
  }

  /** Resolves when connected; rejects when the server refuses us or stays unreachable. */
  connected(): Promise<void> {
    if (this.#fatal) return Promise.reject(this.#fatal);
    if (this.socket.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: UpwireError) => {
        this.socket.off('connect', onConnect);
        this.#waitingForConnect.delete(done);
        if (err) reject(err);
        else resolve();
      };
      const onConnect = () => done();
      this.socket.on('connect', onConnect);
      this.#waitingForConnect.add(done);
    });
  }

  /**
   * The fields of the server's ok answer, or its error (made printable, scalar details only). The
   * answer is the server's claim, not yet an `Answer<E>`: check it with its validator from
   * protocol/answers.ts against what the caller knows.
   */
  request<E extends RequestName>(event: E, payload: RequestOf<E>): Promise<Record<string, unknown>> {
    return this.#send(event, payload, undefined);
  }

  /** Sends one chunk frame in the room `credit` holds (see FlowControl.acquire); the credit is settled here. Check the answer with parseChunkAck. */
  frame(payload: ChunkRequest & { data: Uint8Array }, credit: Credit): Promise<Record<string, unknown>> {
    return this.#send('chunk', payload, credit);
  }

  /**
   * Resolves when the socket holds at most `maxUnsent` bytes not yet sent. A browser's WebSocket
   * copies every message it cannot pass on at once, and keeps the copies until the network takes
   * them: with the whole window (16 MiB) queued there, each frame was copied into memory not touched
   * for a while, and sending cost the page several times the CPU (bench/browser-upload.ts). The
   * WebSocket has no event for its queue draining, so it is looked at on every packet from the
   * server (an answer comes every frame) and every ROOM_POLL_MS while a frame waits.
   */
  roomToSend(signal?: AbortSignal): Promise<void> {
    if (this.#hasRoom()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#roomWaiters = this.#roomWaiters.filter((w) => w !== waiter);
        reject(new UpwireError('E_ABORTED'));
      };
      const waiter = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#roomWaiters.push(waiter);
      this.#roomTimer ??= setTimeout(() => this.#checkRoom(), ROOM_POLL_MS);
    });
  }

  /** Bytes handed to the WebSocket and not yet passed on by it (0 when there is none, or no such count). */
  #unsent(): number {
    // engine.io keeps its transport's WebSocket protected; the browser's and ws's both count bufferedAmount.
    const transport = (this.socket.io.engine as unknown as { transport?: { ws?: { bufferedAmount?: unknown } } } | undefined)?.transport;
    const amount = transport?.ws?.bufferedAmount;
    return typeof amount === 'number' ? amount : 0;
  }

  #hasRoom(): boolean {
    const { maxUnsent } = this.#options;
    return maxUnsent === undefined || !this.socket.connected || this.#unsent() <= maxUnsent;
  }

  #checkRoom(): void {
    clearTimeout(this.#roomTimer);
    this.#roomTimer = undefined;
    if (this.#hasRoom()) {
      const waiters = this.#roomWaiters;
      this.#roomWaiters = [];
      for (const waiter of waiters) waiter();
    } else if (this.#roomWaiters.length > 0) {
      this.#roomTimer = setTimeout(() => this.#checkRoom(), ROOM_POLL_MS);
    }
  }

  /**
   * Drops the socket and opens a new one. After a request was late the connection may be
   * half-open (the peer gone without a FIN), which socket.io would notice only at its ping timeout.
   */
  reconnect(): void {
    if (this.#fatal) return;
    this.socket.disconnect();
    this.socket.connect();
  }

  close(): void {
    this.#failAll(new UpwireError('E_ABORTED'));
    this.socket.disconnect();
  }

  #send<E extends RequestName>(event: E, payload: RequestOf<E>, credit: Credit | undefined): Promise<Record<string, unknown>> {
    if (this.#fatal || !this.socket.connected) {
      if (credit) this.flow.cancel(credit);
      return Promise.reject(this.#fatal ?? new UpwireError('E_DISCONNECTED', 'not connected'));
    }
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      const now = Date.now();
      if (this.#pending.size === 0) this.#lastHeard = now;
      let settled = false;
      const settle = () => {
        if (settled) return false;
        settled = true;
        const wasOldest = this.#pending.keys().next().value === id;
        this.#pending.delete(id);
        if (wasOldest) this.#nextTurn(Date.now());
        return true;
      };
      this.#pending.set(id, {
        event,
        turnSince: now,
        fail: (err) => {
          if (!settle()) return;
          if (credit) this.flow.cancel(credit);
          reject(err);
        },
      });
      if (credit) this.flow.sent(credit, (payload as ChunkRequest & { data: Uint8Array }).data.length);
      this.#armWatchdog();
      // The typed emit cannot take a generic event name; the answer is whatever the server sent.
      (this.socket.emit as (ev: string, p: unknown, ack: (r: unknown) => void) => void)(event, payload, (result) => {
        if (!settle()) return;
        if (credit) this.flow.answered(credit);
        try {
          resolve(parseResult(result, event));
        } catch (err) {
          reject(err as UpwireError);
        }
      });
    });
  }

  /** The oldest request waiting now has its turn: its clock starts. */
  #nextTurn(now: number): void {
    const oldest = this.#pending.values().next().value;
    if (oldest) oldest.turnSince = now;
  }

  #armWatchdog(): void {
    if (this.#watchdog) return;
    const every = Math.max(50, Math.min(1000, this.#options.timeoutMs / 4));
    this.#watchdog = setInterval(() => this.#check(), every);
    (this.#watchdog as { unref?: () => void }).unref?.();
  }

  #check(): void {
    const oldest = this.#pending.values().next().value;
    if (!oldest) {
      clearInterval(this.#watchdog);
      this.#watchdog = undefined;
      return;
    }
    const now = Date.now();
    const { timeoutMs } = this.#options;
    let late: string | undefined;
    if (now - this.#lastHeard > timeoutMs) late = `no word from the server for ${timeoutMs} ms while requests wait`;
    else if (now - oldest.turnSince > timeoutMs) late = `${oldest.event}: no answer within ${timeoutMs} ms of its turn`;
    if (!late) return;
    this.#failAll(new UpwireError('E_TIMEOUT', late));
    this.reconnect();
  }

  #fail(err: UpwireError): void {
    this.#fatal = err;
    this.socket.disconnect();
    this.#failAll(err);
  }

  #failAll(err: UpwireError): void {
    for (const pending of [...this.#pending.values()]) pending.fail(err);
    for (const reject of [...this.#waitingForConnect]) reject(err);
    this.#waitingForConnect.clear();
  }
}
