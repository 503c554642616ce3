import type { Namespace } from 'socket.io';
import type { ClientToServerEvents, EndedEvent, FileInfo, ServerToClientEvents, UploadSnapshot } from '../protocol/index.js';
import type { UploadEvents } from './events.js';

export const ALL_UPLOADS_ROOM = 'watch:*';
export const uploadRoom = (md5: string) => `watch:${md5}`;

/** Progress events at most this often per upload; the final state is always sent. */
const PROGRESS_INTERVAL_MS = 200;

interface Throttle { latest: UploadSnapshot | undefined; timer: NodeJS.Timeout }

/**
 * Broadcasts upload events to watchers' rooms, throttled per upload so a fast upload cannot flood
 * them: at most 5 progress events a second per upload, whatever its speed, so a watcher that stops
 * reading costs its socket's buffer a few hundred bytes a second, and the upload path never waits
 * for a watcher (emits are queued writes, never awaited). Every event is delivered, in order.
 */
export class WatcherHub implements Partial<UploadEvents> {
  readonly #nsp: Namespace<ClientToServerEvents, ServerToClientEvents>;
  readonly #throttles = new Map<string, Throttle>();
  /**
   * Bytes and chunks received at the last event sent, per upload: a state is sent only when it
   * advanced. Both count: the last frame of a chunk is in `bytes` before its chunk is recorded.
   */
  readonly #sent = new Map<string, { bytes: number; received: number }>();

  constructor(nsp: Namespace<ClientToServerEvents, ServerToClientEvents>) {
    this.#nsp = nsp;
  }

  progress(snapshot: UploadSnapshot): void {
    // Chunks of one group commit complete together and report the same state: send it once.
    const sent = this.#sent.get(snapshot.md5);
    if (sent && snapshot.bytes <= sent.bytes && snapshot.received <= sent.received) return;
    const throttle = this.#throttles.get(snapshot.md5);
    if (throttle) {
      throttle.latest = snapshot;
      if (snapshot.received === snapshot.total) this.#flush(snapshot.md5);
      return;
    }
    this.#emitProgress(snapshot);
    this.#throttles.set(snapshot.md5, { latest: undefined, timer: this.#arm(snapshot.md5) });
  }

  /** Each interval: send the latest state if there is one and keep waiting; else stop throttling. */
  #arm(md5: string): NodeJS.Timeout {
    return setTimeout(() => {
      const throttle = this.#throttles.get(md5);
      if (!throttle) return;
      if (!throttle.latest) {
        this.#throttles.delete(md5);
        return;
      }
      this.#emitProgress(throttle.latest);
      throttle.latest = undefined;
      throttle.timer = this.#arm(md5);
    }, PROGRESS_INTERVAL_MS);
  }

  complete(file: FileInfo): void {
    this.#flush(file.md5);
    this.#sent.delete(file.md5);
    this.#nsp.to(ALL_UPLOADS_ROOM).to(uploadRoom(file.md5)).emit('complete', { file });
  }

  ended(event: EndedEvent): void {
    this.#flush(event.md5);
    this.#sent.delete(event.md5);
    this.#nsp.to(ALL_UPLOADS_ROOM).to(uploadRoom(event.md5)).emit('ended', event);
  }

  close(): void {
    for (const { timer } of this.#throttles.values()) clearTimeout(timer);
    this.#throttles.clear();
    this.#sent.clear();
  }

  #flush(md5: string): void {
    const throttle = this.#throttles.get(md5);
    if (!throttle) return;
    clearTimeout(throttle.timer);
    this.#throttles.delete(md5);
    if (throttle.latest) this.#emitProgress(throttle.latest);
  }

  #emitProgress(snapshot: UploadSnapshot): void {
    this.#sent.set(snapshot.md5, { bytes: snapshot.bytes, received: snapshot.received });
    this.#nsp.to(ALL_UPLOADS_ROOM).to(uploadRoom(snapshot.md5)).emit('progress', snapshot);
  }
}
