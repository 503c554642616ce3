import {
  parseDeleted, parseEnded, parseFileInfo, parseSnapshot, parseStatusAnswer, parseWatchAnswer,
  type CompleteStatus, type DeletedEvent, type EndedEvent, type FileInfo, type NoneStatus, type PartialStatus, type UploadSnapshot,
} from '../protocol/index.js';
import { Connection, type TokenSource } from './connection.js';
import { DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS } from './core.js';
import { TypedEmitter } from './emitter.js';

export interface WatchOptions {
  url: string;
  /** The upload token, or the server's read-only WATCH_TOKEN (or a function giving one). */
  token?: TokenSource;
  /** As for uploads: socket.io's path and upwire's namespace on the server. */
  path?: string;
  namespace?: string;
  /** Follow one upload; without it, every upload on the server. */
  md5?: string;
  retries?: number;
  timeoutMs?: number;
}

export interface WatcherEvents {
  /** The uploads in flight when watching began, and again after each reconnect. */
  snapshot: (uploads: UploadSnapshot[]) => void;
  progress: (upload: UploadSnapshot) => void;
  complete: (file: FileInfo) => void;
  ended: (event: EndedEvent) => void;
  /** A principal's stored file was deleted; `stored`: the content stays for others. */
  deleted: (event: DeletedEvent) => void;
  /** The connection dropped, not by our doing; it reconnects on its own and sends a new snapshot. */
  disconnected: (reason: string) => void;
  /** A subscription failed after a reconnect, or the server sent an event the protocol does not allow (dropped). */
  error: (error: Error) => void;
}

/** Live upload events from a server, over a connection of its own. */
export class Watcher extends TypedEmitter<WatcherEvents> {
  /** The latest snapshot: set before open() resolves, then after each reconnect. */
  uploads: UploadSnapshot[] = [];
  readonly #connection: Connection;
  readonly #md5: string | undefined;

  private constructor(connection: Connection, md5: string | undefined) {
    super();
    this.#connection = connection;
    this.#md5 = md5;
    const socket = connection.socket;
    // Events are checked like answers (they are printed, counted, compared): a bad one is dropped.
    const checked = <T>(parse: () => T, deliver: (value: T) => void) => {
      let value: T;
      try {
        value = parse();
      } catch (err) {
        this.emit('error', err as Error);
        return;
      }
      deliver(value);
    };
    const expected = md5 === undefined ? {} : { md5 };
    socket.on('progress', (upload: unknown) => checked(() => parseSnapshot(upload, 'progress'), (u) => this.emit('progress', u)));
    socket.on('complete', (event: unknown) => checked(
      () => parseFileInfo((event as { file?: unknown } | null)?.file, expected, 'complete'),
      (file) => this.emit('complete', file),
    ));
    socket.on('ended', (event: unknown) => checked(() => parseEnded(event), (e) => this.emit('ended', e)));
    socket.on('deleted', (event: unknown) => checked(() => parseDeleted(event), (e) => this.emit('deleted', e)));
    // 'io client disconnect' is our own doing (close, or a late answer's reconnect): not a drop to report.
    socket.on('disconnect', (reason) => reason !== 'io client disconnect' && this.emit('disconnected', reason));
    // The server forgets a socket's rooms when it drops: subscribe again on every reconnect.
    socket.io.on('reconnect', () => void this.#subscribe().catch((err: Error) => this.emit('error', err)));
  }

  /** Connects and subscribes; the first snapshot is in `uploads` when this resolves. */
  static async open(options: WatchOptions): Promise<Watcher> {
    const { url, token, md5, path, namespace, retries = DEFAULT_RETRIES, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
    const connection = new Connection({
      url, retries, timeoutMs,
      ...(token === undefined ? {} : { token }), ...(path === undefined ? {} : { path }), ...(namespace === undefined ? {} : { namespace }),
    });
    const watcher = new Watcher(connection, md5);
    try {
      await connection.connected();
      await watcher.#subscribe();
      return watcher;
    } catch (err) {
      connection.close();
      throw err;
    }
  }

  close(): void {
    this.#connection.close();
  }

  async #subscribe(): Promise<void> {
    const expected = this.#md5 === undefined ? {} : { md5: this.#md5 };
    const { uploads } = parseWatchAnswer(await this.#connection.request('watch', expected), expected);
    this.uploads = uploads;
    this.emit('snapshot', uploads);
  }

  /** Whether an md5 is stored, in progress (with what is missing), or unknown. */
  async status(md5: string): Promise<CompleteStatus | PartialStatus | NoneStatus> {
    return parseStatusAnswer(await this.#connection.request('status', { md5 }), { md5 });
  }
}

/** Starts watching a server (every upload, or one md5). */
export function watch(options: WatchOptions): Promise<Watcher> {
  return Watcher.open(options);
}
