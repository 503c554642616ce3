import { KiB, MAX_FRAME_SIZE, MiB, MIN_FRAME_SIZE, UpwireError } from '../protocol/index.js';

export interface FlowOptions {
  /** The most bytes in flight (sent, not yet answered) on the connection, whatever the link. */
  maxInFlight: number;
  /** How long, at the measured rate, the bytes in flight may take to cross: what a message sent now waits behind. */
  targetDelayMs: number;
  /**
   * The largest frame, at most the protocol's MAX_FRAME_SIZE. The browser entry asks for less
   * (BROWSER_MAX_FRAME_SIZE in browser.ts): what a WebSocket in Chromium sends costs most above about 900 KiB a message.
   */
  maxFrameSize: number;
}

export const DEFAULT_MAX_IN_FLIGHT = 16 * MiB;
export const DEFAULT_TARGET_DELAY_MS = 750;

/** Room for two of the smallest frames: enough to keep a slow link busy while one is answered. */
const MIN_WINDOW = 2 * MIN_FRAME_SIZE;
/** Where a new or reconnected link starts: one second at 512 kbit/s, a few round trips to grow on a fast one. */
const INITIAL_WINDOW = 64 * KiB;
/** Rate samples are kept this long; the window follows the highest (an idle moment must not shrink it). */
const RATE_MEMORY_MS = 1000;
/** Frames are multiples of this, so a window that moves a little does not make every frame a new size. */
const FRAME_GRAIN = 16 * KiB;

/** Room in the window for one frame, taken by `acquire` and handed back by `answered` or `cancel`. */
export interface Credit {
  bytes: number;
  /** When the frame was handed to the connection. */
  sentAt: number;
  /** The connection's delivery state when it was sent (see FlowControl.answered). */
  delivered: number;
  deliveredAt: number;
  firstSentAt: number;
  settled: boolean;
}

/**
 * Flow control for one connection, shared fairly by the uploads on it: each frame waits its turn
 * (first come, first served) for room in the window. socket.io has no backpressure of its own, so
 * the answers are it: the window is the bytes that may be sent and not yet answered, and it follows
 * the rate at which answers come back (delivered bytes per second, the highest sample of the last
 * second) times the target delay, between two small frames and `maxInFlight`. On a fast link it
 * grows within a few round trips to the maximum; on a slow one it shrinks until what is queued
 * crosses in about `targetDelayMs`, so an answer, a status request or a heartbeat never waits
 * behind more than that. Frames are a quarter of the window, so a few are always in flight.
 */
export class FlowControl {
  readonly #options: FlowOptions;
  #window = INITIAL_WINDOW;
  #inFlight = 0;
  /** Bytes answered so far, when the latest answer came, and when the frame it answered was sent. */
  #delivered = 0;
  #deliveredAt = 0;
  #firstSentAt = 0;
  #samples: { at: number; rate: number }[] = [];
  readonly #waiting: ((credit: Credit) => void)[] = [];

  constructor(options: Partial<FlowOptions> = {}, private readonly now: () => number = () => performance.now()) {
    this.#options = { maxInFlight: DEFAULT_MAX_IN_FLIGHT, targetDelayMs: DEFAULT_TARGET_DELAY_MS, maxFrameSize: MAX_FRAME_SIZE, ...options };
    if (!(this.#options.maxInFlight >= MIN_WINDOW)) throw new RangeError(`maxInFlight must be at least ${MIN_WINDOW} bytes`);
    if (!(this.#options.targetDelayMs > 0)) throw new RangeError('targetDelayMs must be positive');
    const { maxFrameSize } = this.#options;
    if (!(Number.isSafeInteger(maxFrameSize) && maxFrameSize >= MIN_FRAME_SIZE && maxFrameSize <= MAX_FRAME_SIZE)) {
      throw new RangeError(`maxFrameSize must be an integer from ${MIN_FRAME_SIZE} to ${MAX_FRAME_SIZE} bytes`);
    }
    this.#window = Math.min(INITIAL_WINDOW, this.#options.maxInFlight);
  }

  /** Bytes that may be in flight now. */
  get window(): number {
    return this.#window;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Answered bytes per second, as measured (0 before the first answer). */
  get rate(): number {
    return this.#samples.reduce((max, s) => Math.max(max, s.rate), 0);
  }

  /** Takes room for one frame (of at most `frameSize()` bytes) when there is some and nobody waits for it. */
  tryAcquire(): Credit | undefined {
    return this.#waiting.length === 0 && this.#hasRoom() ? this.#take() : undefined;
  }

  /** Waits for room in the window, first come first served, and takes it for one frame. */
  acquire(signal?: AbortSignal): Promise<Credit> {
    if (signal?.aborted) return Promise.reject(new UpwireError('E_ABORTED'));
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const at = this.#waiting.indexOf(waiter);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(new UpwireError('E_ABORTED'));
      };
      const waiter = (credit: Credit) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(credit);
      };
      this.#waiting.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The size of the next frame: a quarter of the window, from the protocol's smallest frame to `maxFrameSize`. */
  frameSize(): number {
    const quarter = Math.floor(this.#window / 4 / FRAME_GRAIN) * FRAME_GRAIN;
    return Math.min(this.#options.maxFrameSize, Math.max(MIN_FRAME_SIZE, quarter));
  }

  /** The frame of `bytes` (at most the credit) is handed to the connection now. */
  sent(credit: Credit, bytes: number): void {
    this.#inFlight -= credit.bytes - bytes;
    credit.bytes = bytes;
    const now = this.now();
    // Nothing in flight before this frame: the link was idle, and the time since says nothing of its rate.
    if (this.#inFlight === bytes) this.#firstSentAt = this.#deliveredAt = now;
    credit.sentAt = now;
    credit.delivered = this.#delivered;
    credit.deliveredAt = this.#deliveredAt;
    credit.firstSentAt = this.#firstSentAt;
    this.#wake();
  }

  /**
   * The frame was answered: its bytes leave the window, and the answer is a sample of the link's
   * rate, taken as BBR takes it (draft-cheng-iccrg-delivery-rate-estimation): the bytes answered
   * since this frame was sent, over the longer of the time their frames took to send and the time
   * their answers took to come. The longer one matters: after TCP recovers a lost segment, the
   * bytes held behind it reach the server, and their answers come, all at once.
   */
  answered(credit: Credit): void {
    if (!this.#release(credit)) return;
    const now = this.now();
    this.#delivered += credit.bytes;
    this.#deliveredAt = now;
    this.#firstSentAt = credit.sentAt;
    const interval = Math.max(credit.sentAt - credit.firstSentAt, now - credit.deliveredAt);
    if (interval <= 0) return;
    const rate = ((this.#delivered - credit.delivered) * 1000) / interval;
    this.#samples.push({ at: now, rate });
    while (this.#samples.length > 1 && now - this.#samples[0]!.at > RATE_MEMORY_MS) this.#samples.shift();
    // Queued far beyond the target: the link slowed down; follow this sample now rather than the best one.
    const best = now - credit.sentAt > 2 * this.#options.targetDelayMs ? rate : this.rate;
    const wanted = (best * this.#options.targetDelayMs) / 1000;
    this.#window = Math.round(Math.min(this.#options.maxInFlight, Math.max(MIN_WINDOW, wanted)));
    this.#wake();
  }

  /** The frame was never sent, or its answer will never come (the connection dropped). */
  cancel(credit: Credit): void {
    if (this.#release(credit)) this.#wake();
  }

  /** A new connection may cross another link: measure it afresh. */
  reset(): void {
    this.#samples = [];
    this.#window = Math.min(INITIAL_WINDOW, this.#options.maxInFlight);
  }

  #hasRoom(): boolean {
    // One frame may always go when nothing is in flight, whatever its size against the window.
    return this.#inFlight === 0 || this.#inFlight + MIN_FRAME_SIZE <= this.#window;
  }

  /** A frame's room: its size, or what is left of the window when that is less (never below the smallest frame). */
  #take(): Credit {
    const left = Math.floor((this.#window - this.#inFlight) / FRAME_GRAIN) * FRAME_GRAIN;
    const bytes = Math.max(MIN_FRAME_SIZE, Math.min(this.frameSize(), left));
    this.#inFlight += bytes;
    return { bytes, sentAt: 0, delivered: 0, deliveredAt: 0, firstSentAt: 0, settled: false };
  }

  #release(credit: Credit): boolean {
    if (credit.settled) return false;
    credit.settled = true;
    this.#inFlight -= credit.bytes;
    return true;
  }

  #wake(): void {
    while (this.#waiting.length > 0 && this.#hasRoom()) this.#waiting.shift()!(this.#take());
  }
}
