import {
  chunkLength, countOf, parseCompleteStatus, parseInitAnswer, UpwireError,
  type ChunkAck, type FileInfo, type Metadata, type PartialStatus, type Range,
} from '../protocol/index.js';
import { untilAborted } from './abortable.js';
import { Connection, type TokenSource } from './connection.js';
import { TypedEmitter } from './emitter.js';
import { DEFAULT_MAX_IN_FLIGHT, DEFAULT_TARGET_DELAY_MS } from './flow.js';
import { RateMeter, type Progress } from './meter.js';
import { proofDigest } from './possession.js';
import type { HashCache } from './hash-cache.js';
import { sendChunks } from './send-chunks.js';

/** Random access to the bytes being uploaded (a file on disk, a browser Blob). */
export interface FileSource {
  readonly name: string;
  readonly size: number;
  readonly type: string;
  /**
   * Reads `length` bytes at `offset`, into `into`'s memory when given (a reused buffer). The bytes
   * are the array returned: a source may take `into`'s memory rather than copy into it (a browser's
   * BYOB stream read detaches it), so `into` is not to be used after the call.
   */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  /** True when the bytes cannot have changed since the source was opened (size and mtime as then). */
  unchanged?(): Promise<boolean>;
  /**
   * A key that changes whenever the content may have changed (for a file: device, inode, size,
   * mtime and ctime), so an md5 remembered under it can be used instead of hashing again.
   */
  identity?(): Promise<string | undefined>;
  close?(): Promise<void>;
}

/** Hashes a whole source, reporting bytes hashed so far. */
export type Md5Hasher = (source: FileSource, onProgress: (bytes: number) => void, signal: AbortSignal) => Promise<string>;

export interface UploadOptions {
  /** The server's URL, e.g. http://127.0.0.1:3000; a path in it is where the server is mounted (https://example.com/uploads). */
  url: string;
  /** The token, or a function giving one, asked again at every reconnection (a token that expires). */
  token?: TokenSource;
  /** socket.io's path on the server (default: the URL's path, then /socket.io), and upwire's namespace (default /upload). */
  path?: string;
  namespace?: string;
  /** Wished chunk size in bytes; the server may clamp it, and a resumed upload keeps its own. */
  chunkSize?: number;
  /**
   * The most bytes in flight on the connection (sent, not yet answered), whatever the link; the
   * flow control keeps fewer on a slow link (set on openConnection for a shared one).
   */
  maxInFlight?: number;
  /** How long what is in flight may take to cross at the measured rate (ms): what a new message waits behind. */
  targetDelayMs?: number;
  /**
   * The largest frame in bytes (16 KiB to 1 MiB, the protocol's bounds; default 1 MiB, and 512 KiB
   * from the browser entry, see BROWSER_MAX_FRAME_SIZE). Set on openConnection for a shared connection.
   */
  maxFrameSize?: number;
  /** The most bytes the socket may hold unsent before another frame is handed to it (see Connection.roomToSend); default no limit, 1 MiB from the browser entry. */
  maxUnsent?: number;
  /** Attempts after a transient failure (connection lost, timeout) without progress in between, before giving up. */
  retries?: number;
  /** How long a request may go unanswered once it is its turn, or the server stay silent while requests wait (ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Kept with the upload and the stored file (see MAX_METADATA_* in protocol/constants.ts); the server's hooks see it. */
  metadata?: Metadata;
  /** Skips hashing when the MD5 is already known. */
  md5?: string;
  /** Where md5s of unchanged files are remembered (see hash-cache.ts); `false` hashes every time. */
  hashCache?: HashCache | false;
  /** A connection shared by several uploads (see openConnection); left open when this upload ends. */
  connection?: Connection;
}

export type Phase = 'hashing' | 'connecting' | 'uploading' | 'paused' | 'verifying' | 'retrying' | 'done' | 'failed';

export interface UploadResult {
  file: FileInfo;
  md5: string;
  /** True when the server already had the file and this uploader sent no byte of it. */
  instant: boolean;
  /** Chunks and bytes this uploader handed to the connection, re-sends included (a resumed upload sends only the missing ones). */
  chunksSent: number;
  bytesSent: number;
  /** Chunks and bytes the server acknowledged as stored from this uploader's frames. */
  chunksStored: number;
  bytesStored: number;
  /**
   * The md5 came from the hash cache and proved right: the file was not hashed, except to confirm an
   * instant answer (the server already has content of that md5). False when the cache proved wrong.
   */
  md5Cached: boolean;
  /** Time spent hashing, and from then until the server confirmed the file (connect, init, chunks, merge). */
  hashSeconds: number;
  transferSeconds: number;
}

/** Upload progress: `bytes` the server has (acknowledged), `sent` what this uploader handed to the connection. */
export interface UploadProgress extends Progress {
  /** Bytes this uploader handed to the connection so far, re-sends included. */
  sent: number;
  /** Bytes sent and not yet answered, and the flow control's window now. */
  inFlight: number;
  window: number;
}

export interface UploaderEvents {
  phase: (phase: Phase) => void;
  'hash-progress': (progress: Progress) => void;
  progress: (progress: UploadProgress) => void;
  retry: (info: { attempt: number; error: UpwireError; delayMs: number }) => void;
  complete: (result: UploadResult) => void;
  error: (error: UpwireError) => void;
}

/** Fresh starts after E_CHECKSUM when our own file is unchanged (another client sent bad bytes). */
const CHECKSUM_RETRIES = 2;
/** Waits in a row on a server that answers E_BUSY or E_RATE_LIMIT, each as long as it asks, before giving up. */
const MAX_BUSY_WAITS = 60;
export const DEFAULT_RETRIES = 5;
export const DEFAULT_TIMEOUT_MS = 30_000;
export { DEFAULT_MAX_IN_FLIGHT, DEFAULT_TARGET_DELAY_MS };

/**
 * The upload state machine, the same in Node and browsers: hash, init, send the missing chunks as
 * frames under the connection's flow control (the answers are the backpressure), merge; after a
 * transient failure reconnect, ask the server what is missing and go on. A client error is never retried.
 */
export class Uploader extends TypedEmitter<UploaderEvents> {
  readonly source: FileSource;
  readonly #options: Required<Pick<UploadOptions, 'retries' | 'timeoutMs'>> & UploadOptions;
  readonly #hasher: Md5Hasher;
  readonly #abort = new AbortController();
  #phase: Phase | undefined;
  #paused: { promise: Promise<void>; resume: () => void } | undefined;
  #chunksSent = 0;
  #bytesSent = 0;
  #chunksStored = 0;
  #bytesStored = 0;
  /** The fewest chunks the server lacked in any answer: when it falls, a failure was not for nothing. */
  #fewestMissing = Infinity;
  /** The md5 being uploaded, where it came from, and whether a cached one was confirmed by hashing. */
  #md5 = { value: '', identity: undefined as string | undefined, cached: false, confirmed: false };
  #hashSeconds = 0;
  #transferStarted = 0;
  #run: Promise<UploadResult> | undefined;

  constructor(source: FileSource, hasher: Md5Hasher, options: UploadOptions) {
    super();
    this.source = source;
    this.#hasher = hasher;
    this.#options = { retries: DEFAULT_RETRIES, timeoutMs: DEFAULT_TIMEOUT_MS, ...options };
    if (!Number.isInteger(this.#options.retries) || this.#options.retries < 0) throw new RangeError('retries must be a non-negative integer');
    // A signal that aborted before this uploader existed (Ctrl-C while the file was opened) counts too.
    if (options.signal?.aborted) this.abort();
    else options.signal?.addEventListener('abort', () => this.abort(), { once: true });
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
    const shared = this.#options.connection;
    const connection = shared ?? openConnection(this.#options);
    // An own connection is closed on abort, failing its requests at once; a shared one stays open
    // for the other uploads, and this one stops before its next chunk.
    const onAbort = () => shared || connection.close();
    this.#abort.signal.addEventListener('abort', onAbort);
    try {
      await this.#findMd5(connection);
      this.#transferStarted = performance.now();
      return await this.#uploadWithRetries(connection);
    } finally {
      this.#abort.signal.removeEventListener('abort', onAbort);
      if (!shared) connection.close();
      await this.source.close?.();
    }
  }

  /**
   * The md5 given, or remembered for this file as it is now, or hashed (and then remembered). Before
   * hashing, the server is asked whether it would refuse the upload anyway (see #preflight).
   */
  async #findMd5(connection: Connection): Promise<void> {
    if (this.#options.md5 !== undefined) {
      this.#md5 = { value: this.#options.md5, identity: undefined, cached: false, confirmed: false };
      return;
    }
    const cache = this.#options.hashCache || undefined;
    const identity = cache ? await this.source.identity?.().catch(() => undefined) : undefined;
    const remembered = cache && identity ? await cache.get(identity).catch(() => undefined) : undefined;
    if (remembered) {
      this.#md5 = { value: remembered, identity, cached: true, confirmed: false };
      return;
    }
    await this.#preflight(connection);
    await this.#rehash(identity);
  }

  /**
   * Connects, and asks the server whether it would refuse this upload for anything but its md5, so
   * that a refusal (the token at the handshake, the size above the limit, a name or metadata it does
   * not take) comes in one round trip, before a byte of the file is read: not after a hash pass of
   * minutes. Only a refusal stops the upload; a transient failure here does not (init asks again,
   * with retries). A server of protocol 2 has no preflight: its refusals come at init, as before.
   */
  async #preflight(connection: Connection): Promise<void> {
    this.#setPhase('connecting');
    const signal = this.#abort.signal;
    await untilAborted(connection.connected(), signal);
    if (!connection.preflights) return;
    const { name, size, type } = this.source;
    const { metadata } = this.#options;
    try {
      await untilAborted(connection.request('preflight', { size, name, type, ...(metadata === undefined ? {} : { metadata }) }), signal);
    } catch (err) {
      const error = toUpwireError(err);
      if (signal.aborted || !error.retryable) throw error;
    }
  }

  async #rehash(identity: string | undefined): Promise<void> {
    const started = performance.now();
    const md5 = await this.#hash();
    this.#hashSeconds += (performance.now() - started) / 1000;
    this.#md5 = { value: md5, identity, cached: false, confirmed: false };
    const cache = this.#options.hashCache || undefined;
    // Remembered only when the file did not change while it was hashed.
    if (cache && identity && identity === (await this.source.identity?.().catch(() => undefined))) await cache.set(identity, md5).catch(() => {});
  }

  /**
   * Hashes the file whose md5 came from the cache, its entry forgotten meanwhile; #rehash remembers
   * the md5 found (when the file held still while hashed). The same md5: confirmed, and still
   * `md5Cached`. Another: the entry was wrong, and the upload goes on under the fresh md5, as after a miss.
   */
  async #confirmCached(): Promise<void> {
    const { value: cached, identity } = this.#md5;
    const started = performance.now();
    const cache = this.#options.hashCache || undefined;
    if (cache && identity) await cache.delete(identity).catch(() => {});
    await this.#rehash(identity);
    this.#transferStarted += performance.now() - started; // counted in hashSeconds, not twice
    if (this.#md5.value === cached) this.#md5 = { ...this.#md5, cached: true, confirmed: true };
  }

  async #hash(): Promise<string> {
    this.#setPhase('hashing');
    const meter = new RateMeter(this.source.size);
    let last = 0;
    const md5 = await this.#hasher(this.source, (bytes) => {
      // A hasher may report a last read after the upload was stopped: it is no longer news.
      if (this.#abort.signal.aborted) return;
      this.emit('hash-progress', meter.add(bytes - last));
      last = bytes;
    }, this.#abort.signal);
    if (this.#abort.signal.aborted) throw new UpwireError('E_ABORTED');
    return md5;
  }

  async #uploadWithRetries(connection: Connection): Promise<UploadResult> {
    let failures = 0;
    let busyWaits = 0;
    let checksumRetries = 0;
    while (true) {
      const fewestBefore = this.#fewestMissing;
      try {
        return await this.#attempt(connection, this.#md5.value);
      } catch (err) {
        const error = toUpwireError(err);
        if (this.#abort.signal.aborted) throw new UpwireError('E_ABORTED');
        // The md5 came from the cache and the content does not hash to it: the file changed without
        // its identity changing. Forget it, hash the file as it is, and start again under the new md5.
        if (error.code === 'E_CHECKSUM' && this.#md5.cached && checksumRetries < CHECKSUM_RETRIES) {
          checksumRetries++;
          const { identity } = this.#md5;
          const cache = this.#options.hashCache || undefined;
          if (cache && identity) await cache.delete(identity).catch(() => {});
          this.emit('retry', { attempt: checksumRetries, error, delayMs: 0 });
          await this.#rehash(identity);
          this.#fewestMissing = Infinity;
          continue;
        }
        // The server threw the bad content away and started over. Not a blind retry: only when our
        // file provably did not change, so the bad bytes came from elsewhere (another client).
        if (error.code === 'E_CHECKSUM' && checksumRetries < CHECKSUM_RETRIES && (await this.source.unchanged?.()) === true) {
          checksumRetries++;
          this.emit('retry', { attempt: checksumRetries, error, delayMs: 0 });
          continue;
        }
        if (!error.retryable || error.code === 'E_UNREACHABLE') throw error;
        // Progress is the server holding more of the file than ever before, as it says itself: that
        // is bounded by the chunk count, so a server that never lets the upload finish cannot keep it looping.
        // Every count is checked against our file (protocol/answers.ts, at most MAX_CHUNKS), so the
        // fewest missing falls at most total + 1 times: at most (total + 1) * (retries + 1) attempts.
        if (this.#fewestMissing < fewestBefore) failures = busyWaits = 0;
        const hinted = error.details.retryAfterMs; // E_BUSY and E_RATE_LIMIT say how long to wait
        if (typeof hinted === 'number' && Number.isFinite(hinted) && hinted >= 0) {
          if (++busyWaits > MAX_BUSY_WAITS) throw error;
        } else if (++failures > this.#options.retries) {
          throw error;
        }
        const delayMs = typeof hinted === 'number' && Number.isFinite(hinted) && hinted >= 0
          ? Math.min(60_000, hinted) * (1 + Math.random() / 4)
          : Math.min(10_000, 250 * 2 ** (failures - 1)) * (0.75 + Math.random() / 2);
        this.#setPhase('retrying');
        this.emit('retry', { attempt: failures + busyWaits, error, delayMs });
        await sleep(delayMs, this.#abort.signal);
      }
    }
  }

  async #attempt(connection: Connection, md5: string): Promise<UploadResult> {
    this.#setPhase('connecting');
    const signal = this.#abort.signal;
    await untilAborted(connection.connected(), signal);
    const { name, size, type } = this.source;
    const { chunkSize } = this.#options; // no wish: the server's CHUNK_SIZE applies
    const expected = { md5, size };
    // Answers are checked against our own file before anything is done with them: a server (a bug,
    // a proxy, an impostor) must not make us expand 2^31 ranges, or report another file as ours.
    const { metadata } = this.#options;
    const init = { md5, size, name, type, ...(chunkSize === undefined ? {} : { chunkSize }), ...(metadata === undefined ? {} : { metadata }) };
    const status = parseInitAnswer(await untilAborted(connection.request('init', init), signal), expected);
    // The server has content of this md5. Nothing checks our bytes against it on this path (no merge,
    // no E_CHECKSUM; a proof is of ranges only), so an md5 from the cache is confirmed by hashing
    // first: a file changed without its identity changing must not be reported as on the server.
    if ((status.status === 'complete' || status.status === 'prove') && this.#md5.cached && !this.#md5.confirmed) {
      await this.#confirmCached();
      // Another md5, or a challenge that may have expired while we hashed: ask again, under the md5 now known.
      if (this.#md5.value !== md5 || status.status === 'prove') return this.#attempt(connection, this.#md5.value);
    }
    if (status.status === 'complete') return this.#result(status.file, md5, this.#bytesSent === 0);
    if (status.status === 'prove') {
      // Stored by others: a few ranges of our copy show we have it (see possession.ts).
      const proof = { ...init, challenge: status.challenge, digest: await proofDigest(this.source, status) };
      const proved = parseCompleteStatus(await untilAborted(connection.request('prove', proof), signal), expected, 'prove');
      return this.#result(proved.file, md5, this.#bytesSent === 0);
    }
    this.#fewestMissing = Math.min(this.#fewestMissing, countOf(status.missing));
    await this.#sendMissing(connection, status);
    this.#setPhase('verifying');
    const merged = parseCompleteStatus(await untilAborted(connection.request('merge', { md5 }), signal), expected, 'merge');
    return this.#result(merged.file, md5, false);
  }

  /** Sends what the server lacks, reporting progress as the server answers each frame. */
  async #sendMissing(connection: Connection, status: PartialStatus): Promise<void> {
    const { size, chunkSize, missing } = status;
    const missingBytes = bytesOf(missing, size, chunkSize);
    const meter = new RateMeter(size, size - missingBytes);
    const progress = (bytes: number) => this.emit('progress', {
      ...meter.add(bytes), sent: this.#bytesSent, inFlight: connection.flow.inFlight, window: connection.flow.window,
    });
    this.#setPhase(this.#paused ? 'paused' : 'uploading');
    progress(0);
    await sendChunks(connection, this.source, status, {
      signal: this.#abort.signal,
      unpaused: () => this.#paused?.promise,
      sent: (bytes, lastOfChunk) => {
        this.#bytesSent += bytes;
        if (lastOfChunk) this.#chunksSent++;
      },
      answered: (ack: ChunkAck, bytes: number) => {
        if (ack.accepted && ack.stored) {
          this.#chunksStored++;
          this.#bytesStored += chunkLength(size, chunkSize, ack.index);
        }
        this.#fewestMissing = Math.min(this.#fewestMissing, ack.total - ack.received);
        progress(ack.accepted ? bytes : 0);
      },
    });
  }

  #result(file: FileInfo, md5: string, instant: boolean): UploadResult {
    const transferSeconds = (performance.now() - this.#transferStarted) / 1000;
    return {
      file, md5, instant, md5Cached: this.#md5.cached,
      chunksSent: this.#chunksSent, bytesSent: this.#bytesSent, chunksStored: this.#chunksStored, bytesStored: this.#bytesStored,
      hashSeconds: this.#hashSeconds, transferSeconds,
    };
  }

  #setPhase(phase: Phase): void {
    if (phase === this.#phase) return;
    this.#phase = phase;
    this.emit('phase', phase);
  }
}

/** What openConnection takes: where the server is, and the flow-control settings of UploadOptions. */
export type ConnectionSettings = Pick<UploadOptions, 'url' | 'token' | 'path' | 'namespace' | 'retries' | 'timeoutMs' | 'maxInFlight' | 'targetDelayMs' | 'maxFrameSize' | 'maxUnsent'>;

/** One connection to a server, to share between uploads with the `connection` option. */
export function openConnection(options: ConnectionSettings): Connection {
  const { url, token, path, namespace, retries = DEFAULT_RETRIES, timeoutMs = DEFAULT_TIMEOUT_MS, maxFrameSize, maxUnsent } = options;
  return new Connection({
    url, retries, timeoutMs,
    maxInFlight: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
    targetDelayMs: options.targetDelayMs ?? DEFAULT_TARGET_DELAY_MS,
    ...(maxFrameSize === undefined ? {} : { maxFrameSize }),
    ...(maxUnsent === undefined ? {} : { maxUnsent }),
    ...(token === undefined ? {} : { token }),
    ...(path === undefined ? {} : { path }),
    ...(namespace === undefined ? {} : { namespace }),
  });
}

/** Bytes in the chunks of `ranges`, without expanding them: chunks are contiguous, only the last is short. */
function bytesOf(ranges: readonly Range[], size: number, chunkSize: number): number {
  return ranges.reduce((sum, [start, end]) => sum + Math.min(end * chunkSize, size) - start * chunkSize, 0);
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
