/** Bytes done, rate over the last few seconds, and time left. */
export interface Progress {
  bytes: number;
  size: number;
  percent: number;
  /** Bytes per second over the last few seconds. */
  speed: number;
  /** Seconds left at the current speed; null until there is a speed. */
  eta: number | null;
}

const WINDOW_MS = 3000;

export class RateMeter {
  readonly #size: number;
  #bytes: number;
  readonly #samples: { at: number; bytes: number }[] = [];

  constructor(size: number, startBytes = 0, private readonly now: () => number = () => Date.now()) {
    this.#size = size;
    this.#bytes = startBytes;
    this.#samples.push({ at: now(), bytes: startBytes });
  }

  add(bytes: number): Progress {
    this.#bytes += bytes;
    const at = this.now();
    this.#samples.push({ at, bytes: this.#bytes });
    while (this.#samples.length > 2 && at - this.#samples[0]!.at > WINDOW_MS) this.#samples.shift();
    return this.progress();
  }

  progress(): Progress {
    const first = this.#samples[0]!;
    const last = this.#samples[this.#samples.length - 1]!;
    const seconds = (last.at - first.at) / 1000;
    const speed = seconds > 0 ? (last.bytes - first.bytes) / seconds : 0;
    const left = this.#size - this.#bytes;
    return {
      bytes: this.#bytes,
      size: this.#size,
      percent: this.#size === 0 ? 100 : (100 * this.#bytes) / this.#size,
      speed,
      eta: left === 0 ? 0 : speed > 0 ? left / speed : null,
    };
  }
}
