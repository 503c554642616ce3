import type { Namespace } from 'socket.io';
import type { ClientToServerEvents, DeletedEvent, EndedEvent, FileInfo, ServerToClientEvents, UploadSnapshot } from '../../protocol/index.js';
import type { UploadEvents } from '../observe/events.js';

export const ALL_UPLOADS_ROOM = 'watch:*';
export const uploadRoom = (md5: string) => `watch:${md5}`;

/** Progress events at most this often per upload; the final state is always sent. */
const PROGRESS_INTERVAL_MS = 200;

interface Throttle { latest: UploadSnapshot | undefined; timer: NodeJS.Timeout }

/*
 * State is kept per upload id, rooms per md5: where files belong to principals, two principals'
 * uploads of the same content are two uploads (two ids), both shown to who watches that md5.
 */

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
    const sent = this.#sent.get(snapshot.id);
    if (sent && snapshot.bytes <= sent.bytes && snapshot.received <= sent.received) return;
    const throttle = this.#throttles.get(snapshot.id);
    if (throttle) {
      throttle.latest = snapshot;
      if (snapshot.received === snapshot.total) this.#sendLatest(snapshot.id);
      return;
    }
    this.#emitProgress(snapshot);
    this.#throttles.set(snapshot.id, { latest: undefined, timer: this.#arm(snapshot.id) });
  }

  /** Each interval: send the latest state if there is one and keep waiting; else stop throttling. */
  #arm(id: string): NodeJS.Timeout {
    return setTimeout(() => {
      const throttle = this.#throttles.get(id);
      if (!throttle) return;
      if (!throttle.latest) {
        this.#throttles.delete(id);
        return;
      }
      this.#emitProgress(throttle.latest);
      throttle.latest = undefined;
      throttle.timer = this.#arm(id);
    }, PROGRESS_INTERVAL_MS);
  }

  complete(file: FileInfo, id: string): void {
    this.#sendLatest(id);
    this.#sent.delete(id);
    this.#nsp.to(ALL_UPLOADS_ROOM).to(uploadRoom(file.md5)).emit('complete', { file });
  }

  ended(event: EndedEvent): void {
    this.#sendLatest(event.id);
    this.#sent.delete(event.id);
    this.#nsp.to(ALL_UPLOADS_ROOM).to(uploadRoom(event.md5)).emit('ended', event);
  }

  /** Watchers see every principal's uploads (the watch role, where files belong to principals), so they may see every deletion. */
  deleted(event: DeletedEvent): void {
    this.#nsp.to(ALL_UPLOADS_ROOM).to(uploadRoom(event.md5)).emit('deleted', event);
  }

  close(): void {
    for (const { timer } of this.#throttles.values()) clearTimeout(timer);
    this.#throttles.clear();
    this.#sent.clear();
  }

  /** Sends the state held back by the throttle, if any, now. */
  #sendLatest(id: string): void {
    const throttle = this.#throttles.get(id);
    if (!throttle) return;
    clearTimeout(throttle.timer);
    this.#throttles.delete(id);
    if (throttle.latest) this.#emitProgress(throttle.latest);
  }

  #emitProgress(snapshot: UploadSnapshot): void {
    this.#sent.set(snapshot.id, { bytes: snapshot.bytes, received: snapshot.received });
    this.#nsp.to(ALL_UPLOADS_ROOM).to(uploadRoom(snapshot.md5)).emit('progress', snapshot);
  }
}

/** The hubs of every namespace upwire is attached to, told together. */
export class WatcherHubs implements Partial<UploadEvents> {
  readonly #hubs: WatcherHub[] = [];

  add(hub: WatcherHub): void {
    this.#hubs.push(hub);
  }

  progress(snapshot: UploadSnapshot): void {
    for (const hub of this.#hubs) hub.progress(snapshot);
  }

  complete(file: FileInfo, id: string): void {
    for (const hub of this.#hubs) hub.complete(file, id);
  }

  ended(event: EndedEvent): void {
    for (const hub of this.#hubs) hub.ended(event);
  }

  deleted(event: DeletedEvent): void {
    for (const hub of this.#hubs) hub.deleted(event);
  }

  close(): void {
    for (const hub of this.#hubs) hub.close();
  }
}
