import type { Namespace } from 'socket.io';
import type { ClientToServerEvents, FileInfo, ServerToClientEvents, UploadSnapshot } from '../protocol/index.js';
import type { UploadEvents } from './events.js';

export const ALL_UPLOADS_ROOM = 'watch:*';
export const uploadRoom = (md5: string) => `watch:${md5}`;

/** Progress events at most this often per upload; the final state is always sent. */
const PROGRESS_INTERVAL_MS = 200;

interface Throttle { latest: UploadSnapshot | undefined; timer: NodeJS.Timeout }

/**
 * Broadcasts upload events to watchers' rooms, throttled per upload so a fast upload cannot flood
 * them. Emits are volatile: a watcher that cannot keep up misses intermediate progress events
 * instead of buffering them on the upload path.
 */
export class WatcherHub implements UploadEvents {
  readonly #nsp: Namespace<ClientToServerEvents, ServerToClientEvents>;
  readonly #throttles = new Map<string, Throttle>();

  constructor(nsp: Namespace<ClientToServerEvents, ServerToClientEvents>) {
    this.#nsp = nsp;
  }

  progress(snapshot: UploadSnapshot): void {
    const throttle = this.#throttles.get(snapshot.md5);
    if (throttle) {
      throttle.latest = snapshot;
      if (snapshot.received === snapshot.total) this.#flush(snapshot.md5);
      return;
    }
    this.#emitProgress(snapshot);
    const timer = setTimeout(() => this.#flush(snapshot.md5), PROGRESS_INTERVAL_MS);
    this.#throttles.set(snapshot.md5, { latest: undefined, timer });
  }

  complete(file: FileInfo): void {
    this.#flush(file.md5);
    this.#nsp.to(ALL_UPLOADS_ROOM).to(uploadRoom(file.md5)).emit('complete', { file });
  }

  ended(md5: string): void {
    this.#flush(md5);
  }

  close(): void {
    for (const { timer } of this.#throttles.values()) clearTimeout(timer);
    this.#throttles.clear();
  }

  #flush(md5: string): void {
    const throttle = this.#throttles.get(md5);
    if (!throttle) return;
    clearTimeout(throttle.timer);
    this.#throttles.delete(md5);
    if (throttle.latest) this.#emitProgress(throttle.latest);
  }

  #emitProgress(snapshot: UploadSnapshot): void {
    this.#nsp.to(ALL_UPLOADS_ROOM).to(uploadRoom(snapshot.md5)).emit('progress', snapshot);
  }
}
