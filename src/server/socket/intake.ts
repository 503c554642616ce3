import { UpwireError } from '../../protocol/index.js';

/** A connection whose reading can be stopped, so TCP flow control pushes back on its sender. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

export interface IntakeLimits {
  /** Frame bytes one connection may have in memory (received, not yet written) before its socket stops being read. */
  perConnection: number;
  /** Frame bytes in memory across all connections: above half, connections delivering frames are paused; at the limit, frames are refused with E_BUSY. */
  total: number;
}

/** A paused connection is read again after this long whatever the load, so pings and pongs keep flowing. */
const MAX_PAUSE_MS = 5000;
/** What E_BUSY asks a client to wait; it adds jitter. */
const BUSY_RETRY_MS = 1000;

/**
 * Bounds the frame bytes the server holds in memory. An honest client keeps its window of bytes in
 * flight and never meets these limits; one that ignores its window has its socket paused (the
 * kernel's buffers and TCP then hold the rest, not this process), and when the whole server holds
 * too much, frames are refused with E_BUSY rather than buffered or answered by a dropped connection.
 */
export class Intake {
  held = 0;
  /** The most ever held at once, connections ever paused, and frames refused with E_BUSY: for /metrics. */
  peak = 0;
  pauses = 0;
  refused = 0;
  readonly #paused = new Set<ConnectionIntake>();

  constructor(readonly limits: IntakeLimits) {}

  connection(socket: Pausable): ConnectionIntake {
    return new ConnectionIntake(this, socket);
  }

  /** @internal */
  paused(connection: ConnectionIntake, paused: boolean): void {
    if (paused) {
      this.#paused.add(connection);
      this.pauses++;
    } else {
      this.#paused.delete(connection);
    }
  }

  get pausedNow(): number {
    return this.#paused.size;
  }

  /** @internal A release may let paused connections go on. */
  released(): void {
    if (this.#paused.size === 0 || this.held > this.limits.total / 4) return;
    for (const connection of [...this.#paused]) connection.resumeIfBelow();
  }
}

export class ConnectionIntake {
  held = 0;
  #pausedAt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intake: Intake,
    private readonly socket: Pausable,
  ) {}

  get isPaused(): boolean {
    return this.#pausedAt > 0;
  }

  /** Takes room for a frame just received, or refuses it with E_BUSY. Returns the release. */
  admit(bytes: number): () => void {
    const { intake } = this;
    const { perConnection, total } = intake.limits;
    if (intake.held + bytes > total) {
      intake.refused++;
      const retryAfterMs = BUSY_RETRY_MS;
      throw new UpwireError('E_BUSY', `the server holds ${intake.held} bytes of frames, its limit; retry in ${retryAfterMs} ms`, { retryAfterMs });
    }
    this.held += bytes;
    intake.held += bytes;
    intake.peak = Math.max(intake.peak, intake.held);
    if (this.held > perConnection || intake.held > total / 2) this.#pause();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= bytes;
      intake.held -= bytes;
      if (this.isPaused) this.resumeIfBelow();
      intake.released();
    };
  }

  /** @internal */
  resumeIfBelow(): void {
    const { perConnection, total } = this.intake.limits;
    if (this.held <= perConnection / 2 && this.intake.held <= total / 4) this.#resume();
  }

  /** Stops the accounting's hold on the socket (it closed). */
  close(): void {
    this.#resume();
  }

  #pause(): void {
    if (this.isPaused) return;
    this.#pausedAt = Date.now();
    this.intake.paused(this, true);
    this.socket.pause();
    this.#timer = setTimeout(() => this.#resume(), MAX_PAUSE_MS).unref();
  }

  #resume(): void {
    if (!this.isPaused) return;
    clearTimeout(this.#timer);
    this.#pausedAt = 0;
    this.intake.paused(this, false);
    this.socket.resume();
  }
}
