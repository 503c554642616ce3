import { UpwireError } from '../../protocol/index.js';
import type { UploadSocket } from './operations.js';

/** Rooms one connection may watch at once (every upload counts as one). */
export const MAX_WATCH_ROOMS = 64;

/** Connections watching now: they are exempt from the idle rule (watchers are quiet), so their number is capped. */
export class WatchLimits {
  readonly #ids = new Set<string>();
  constructor(readonly max: number) {}

  join(socket: UploadSocket): void {
    if (this.#ids.has(socket.id)) {
      if (watchRooms(socket) >= MAX_WATCH_ROOMS) throw new UpwireError('E_RATE_LIMIT', `one connection may watch at most ${MAX_WATCH_ROOMS} uploads`, { retryAfterMs: 60_000 });
      return;
    }
    if (this.#ids.size >= this.max) throw new UpwireError('E_BUSY', `the server has ${this.max} watchers, its limit; retry later`, { retryAfterMs: 30_000 });
    this.#ids.add(socket.id);
  }

  left(socket: UploadSocket): void {
    if (watchRooms(socket) === 0) this.#ids.delete(socket.id);
  }

  get size(): number {
    return this.#ids.size;
  }
}

export function watchRooms(socket: UploadSocket): number {
  let rooms = 0;
  for (const room of socket.rooms) if (room.startsWith('watch:')) rooms++;
  return rooms;
}
