import {
  chunkLength, countOf, indicesOf, UpwireError,
  type FileInfo, type PartialStatus,
} from '../protocol/index.js';
import { bufferOf } from './chunk-window.js';
import { Connection } from './connection.js';
import { TypedEmitter } from './emitter.js';
import { RateMeter, type Progress } from './meter.js';

/** Random access to the bytes being uploaded (a file on disk, a browser Blob). */
export interface FileSource {
  readonly name: string;
  readonly size: number;
  readonly type: string;
  /** Reads `length` bytes at `offset`, into `into` when given (a reused buffer). */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  /** True when the bytes cannot have changed since the source was opened (size and mtime as then). */
  unchanged?(): Promise<boolean>;
  close?(): Promise<void>;
}

/** Hashes a whole source, reporting bytes hashed so far. */
export type Md5Hasher = (source: FileSource, onProgress: (bytes: number) => void, signal: AbortSignal) => Promise<string>;

export interface UploadOptions {
  /** Server base URL, e.g. http://127.0.0.1:3000. */
  url: string;
  token?: string;
  /** Wished chunk size in bytes; the server may clamp it, and a resumed upload keeps its own. */
  chunkSize?: number;
  /** Chunks in flight at once over the connection (set on openConnection for a shared one). */
  concurrency?: number;
  /** Attempts after a transient failure (connection lost, timeout) before giving up. */
  retries?: number;
  /** How long one request may wait for its answer (ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Skips hashing when the MD5 is already known. */
  md5?: string;
  /** A connection shared by several uploads (see openConnection); left open when this upload ends. */
  connection?: Connection;
}

export type Phase = 'hashing' | 'connecting' | 'uploading' | 'paused' | 'verifying' | 'retrying' | 'done' | 'failed';

export interface UploadResult {
  file: FileInfo;
  md5: string;
  /** True when the server already had the file and no byte was sent. */
  instant: boolean;
  /** Chunks this uploader sent (a resumed upload sends only the missing ones). */
  chunksSent: number;
  bytesSent: number;
  /** Time spent hashing, and from then until the server confirmed the file (connect, init, chunks, merge). */
  hashSeconds: number;
  transferSeconds: number;
}

export interface UploaderEvents {
  phase: (phase: Phase) => void;
  'hash-progress': (progress: Progress) => void;
  progress: (progress: Progress) => void;
  retry: (info: { attempt: number; error: UpwireError; delayMs: number }) => void;
  complete: (result: UploadResult) => void;
  error: (error: UpwireError) => void;
}

export const DEFAULT_CONCURRENCY = 4;
/** Fresh starts after E_CHECKSUM when our own file is unchanged (another client sent bad bytes). */
const CHECKSUM_RETRIES = 2;
export const DEFAULT_RETRIES = 5;
export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The upload state machine, the same in Node and browsers: hash, init, send the missing chunks
 * with a window of acks in flight (the acks are the backpressure), merge; after a transient failure
 * reconnect, ask the server what is missing and go on. A client error is never retried.
 */
export class Uploader extends TypedEmitter<UploaderEvents> {
  readonly source: FileSource;
  readonly #options: Required<Pick<UploadOptions, 'concurrency' | 'retries' | 'timeoutMs'>> & UploadOptions;
  readonly #hasher: Md5Hasher;
  readonly #abort = new AbortController();
  #phase: Phase | undefined;
  #paused: { promise: Promise<void>; resume: () => void } | undefined;
  #chunksSent = 0;
  #bytesSent = 0;
  #hashSeconds = 0;
  #transferStarted = 0;
  #run: Promise<UploadResult> | undefined;

  constructor(source: FileSource, hasher: Md5Hasher, options: UploadOptions) {
    super();
    this.source = source;
    this.#hasher = hasher;
    this.#options = { concurrency: DEFAULT_CONCURRENCY, retries: DEFAULT_RETRIES, timeoutMs: DEFAULT_TIMEOUT_MS, ...options };
    if (!Number.isInteger(this.#options.concurrency) || this.#options.concurrency < 1) throw new RangeError('concurrency must be a positive integer');
    if (!Number.isInteger(this.#options.retries) || this.#options.retries < 0) throw new RangeError('retries must be a non-negative integer');
    options.signal?.addEventListener('abort', () => this.abort(), { once: true });
  }

  get phase(): Phase | undefined {
    return this.#phase;
  }

  /** Runs the upload once; later calls return the same promise. */
  start(): Promise<UploadResult> {
    this.#run ??= this.#execute().then(
      (result) => {
        this.#setPhase('done');
        this.emit('complete', result);
        return result;
      },
      (err: unknown) => {
        const error = this.#abort.signal.aborted ? new UpwireError('E_ABORTED') : toUpwireError(err);
        this.#setPhase('failed');
        this.emit('error', error);
        throw error;
      },
    );
    return this.#run;
  }

  /** Stops sending new chunks after those in flight; the connection stays open. */
  pause(): void {
    if (this.#paused) return;
    let resume!: () => void;
    const promise = new Promise<void>((r) => (resume = r));
    this.#paused = { promise, resume };
    if (this.#phase === 'uploading') this.#setPhase('paused');
  }

  resume(): void {
    const paused = this.#paused;
    this.#paused = undefined;
    paused?.resume();
    if (this.#phase === 'paused') this.#setPhase('uploading');
  }

  /** Stops at once. What the server acknowledged stays there, so a later upload resumes. */
  abort(): void {
    this.#abort.abort();
    this.resume();
  }

  async #execute(): Promise<UploadResult> {
    const hashStarted = performance.now();
    const md5 = this.#options.md5 ?? (await this.#hash());
    this.#hashSeconds = (performance.now() - hashStarted) / 1000;
    this.#transferStarted = performance.now();
    const shared = this.#options.connection;
    const connection = shared ?? openConnection(this.#options);
    // An own connection is closed on abort, failing its requests at once; a shared one stays open
    // for the other uploads, and this one stops before its next chunk.
    const onAbort = () => shared || connection.close();
    this.#abort.signal.addEventListener('abort', onAbort);
    try {
      return await this.#uploadWithRetries(connection, md5);
    } finally {
      this.#abort.signal.removeEventListener('abort', onAbort);
      if (!shared) connection.close();
      await this.source.close?.();
    }
  }

  async #hash(): Promise<string> {
    this.#setPhase('hashing');
    const meter = new RateMeter(this.source.size);
    let last = 0;
    const md5 = await this.#hasher(this.source, (bytes) => {
      this.emit('hash-progress', meter.add(bytes - last));
      last = bytes;
    }, this.#abort.signal);
    if (this.#abort.signal.aborted) throw new UpwireError('E_ABORTED');
    return md5;
  }

  async #uploadWithRetries(connection: Connection, md5: string): Promise<UploadResult> {
    let failures = 0;
    let checksumRetries = 0;
    while (true) {
      const sentBefore = this.#chunksSent;
      try {
        return await this.#attempt(connection, md5);
      } catch (err) {
        const error = toUpwireError(err);
        if (this.#abort.signal.aborted) throw new UpwireError('E_ABORTED');
        // The server threw the bad content away and started over. Not a blind retry: only when our
        // file provably did not change, so the bad bytes came from elsewhere (another client).
        if (error.code === 'E_CHECKSUM' && checksumRetries < CHECKSUM_RETRIES && (await this.source.unchanged?.()) === true) {
          checksumRetries++;
          this.emit('retry', { attempt: checksumRetries, error, delayMs: 0 });
          continue;
        }
        if (!error.retryable || error.code === 'E_UNREACHABLE') throw error;
        if (this.#chunksSent > sentBefore) failures = 0; // progress was made: the link works
        if (++failures > this.#options.retries) throw error;
        if (error.code === 'E_TIMEOUT') connection.reconnect();
        const hinted = error.details.retryAfterMs; // E_RATE_LIMIT says how long to wait
        const delayMs = typeof hinted === 'number' ? hinted : Math.min(10_000, 250 * 2 ** (failures - 1)) * (0.75 + Math.random() / 2);
        this.#setPhase('retrying');
        this.emit('retry', { attempt: failures, error, delayMs });
        await sleep(delayMs, this.#abort.signal);
      }
    }
  }

  async #attempt(connection: Connection, md5: string): Promise<UploadResult> {
    this.#setPhase('connecting');
    await connection.connected();
    const { name, size, type } = this.source;
    const { chunkSize } = this.#options; // no wish: the server's CHUNK_SIZE applies
    const status = await connection.request('init', { md5, size, name, type, ...(chunkSize === undefined ? {} : { chunkSize }) });
    if (status.status === 'complete') return this.#result(status.file, md5, this.#chunksSent === 0);
    await this.#sendMissing(connection, status);
    this.#setPhase('verifying');
    const merged = await connection.request('merge', { md5 });
    return this.#result(merged.file, md5, false);
  }

  /** Lanes that each take a place in the connection's window: read the next index into its buffer, send, await the ack. */
  async #sendMissing(connection: Connection, status: PartialStatus): Promise<void> {
    const { md5, size, chunkSize, total, missing } = status;
    const missingBytes = [...indicesOf(missing)].reduce((sum, i) => sum + chunkLength(size, chunkSize, i), 0);
    const meter = new RateMeter(size, size - missingBytes);
    this.#setPhase(this.#paused ? 'paused' : 'uploading');
    this.emit('progress', meter.progress());
    const queue = indicesOf(missing);
    const { window } = connection;
    const lanes = Math.min(window.size, countOf(missing));
    let failed = false; // one lane's failure stops the others before their next chunk
    const lane = async () => {
      for (let next = queue.next(); !next.done && !failed; next = queue.next()) {
        if (this.#paused) await this.#paused.promise;
        if (this.#abort.signal.aborted) throw new UpwireError('E_ABORTED');
        const index = next.value;
        const length = chunkLength(size, chunkSize, index);
        const slot = await window.acquire();
        try {
          const data = await this.source.read(index * chunkSize, length, bufferOf(slot, length));
          await connection.request('chunk', { md5, index, total, data });
        } catch (err) {
          // Without an ack the packet may still sit in a write queue: never refill that buffer.
          slot.buffer = new Uint8Array(0);
          throw err;
        } finally {
          window.release(slot); // after an ack the bytes have left: the buffer is reused
        }
        this.#chunksSent++;
        this.#bytesSent += length;
        this.emit('progress', meter.add(length));
      }
    };
    await Promise.all(Array.from({ length: lanes }, () => lane().catch((err: unknown) => {
      failed = true;
      throw err;
    })));
  }

  #result(file: FileInfo, md5: string, instant: boolean): UploadResult {
    const transferSeconds = (performance.now() - this.#transferStarted) / 1000;
    return { file, md5, instant, chunksSent: this.#chunksSent, bytesSent: this.#bytesSent, hashSeconds: this.#hashSeconds, transferSeconds };
  }

  #setPhase(phase: Phase): void {
    if (phase === this.#phase) return;
    this.#phase = phase;
    this.emit('phase', phase);
  }
}

/** One connection to a server, to share between uploads with the `connection` option. */
export function openConnection(options: Pick<UploadOptions, 'url' | 'token' | 'retries' | 'timeoutMs' | 'concurrency'>): Connection {
  const { url, token, retries = DEFAULT_RETRIES, timeoutMs = DEFAULT_TIMEOUT_MS, concurrency = DEFAULT_CONCURRENCY } = options;
  return new Connection({ url, retries, timeoutMs, window: concurrency, ...(token === undefined ? {} : { token }) });
}

export function toUpwireError(err: unknown): UpwireError {
  if (err instanceof UpwireError) return err;
  return new UpwireError('E_INTERNAL', err instanceof Error ? err.message : String(err), {}, { cause: err });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
