import { UpwireError } from '../../protocol/index.js';

/** Allows `rate` events a second on average, in bursts of up to `burst`. */
export class TokenBucket {
  #tokens: number;
  #last = performance.now();

  constructor(private readonly rate: number, private readonly burst: number) {
    this.#tokens = burst;
  }

  /** Takes a token, or answers how long until one is there (ms). */
  take(): number {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.rate);
    this.#last = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) / this.rate) * 1000);
  }
}

export interface LimitConfig { initRate: number; maxUploadsPerConnection: number }

/** What one connection may do: how fast it may start uploads, and how many it may keep open at once. */
export class ConnectionLimits {
  readonly #inits: TokenBucket;
  readonly #open = new Set<string>();
  readonly #preflights: TokenBucket;

  constructor(private readonly config: LimitConfig) {
    this.#inits = new TokenBucket(config.initRate, config.initRate);
    this.#preflights = new TokenBucket(config.initRate, config.initRate);
  }

  /** Before an init: refuses with E_RATE_LIMIT and a retry hint when over either limit. */
  checkInit(md5: string): void {
    if (!this.#open.has(md5) && this.#open.size >= this.config.maxUploadsPerConnection) {
      throw new UpwireError('E_RATE_LIMIT', `at most ${this.config.maxUploadsPerConnection} uploads at once on one connection; finish or abort one first`, { retryAfterMs: 1000 });
    }
    const wait = this.#inits.take();
    if (wait > 0) throw new UpwireError('E_RATE_LIMIT', `too many inits on this connection; retry in ${wait} ms`, { retryAfterMs: wait });
  }

  /** Before a preflight: as fast as inits, in a bucket of its own (each upload sends one of each). */
  checkPreflight(): void {
    const wait = this.#preflights.take();
    if (wait > 0) throw new UpwireError('E_RATE_LIMIT', `too many preflights on this connection; retry in ${wait} ms`, { retryAfterMs: wait });
  }

  opened(md5: string): void {
    this.#open.add(md5);
  }

  closed(md5: string): void {
    this.#open.delete(md5);
  }
}
