/** A held lock. `signal` aborts if the lock is lost before release (a lease that could not be renewed). */
export interface Lock {
  /** Grows with every grant of the same key: a fencing token. */
  readonly token: number;
  readonly signal: AbortSignal;
  release(): Promise<void>;
}

/**
 * Mutual exclusion by key (an md5): init, merge, abort and expiry of one upload never overlap.
 * Implementations pass the contract suite in test/contract/locker.ts.
 */
export interface Locker {
  /** Waits for the lock on `key`, first come first served; rejects when `signal` aborts first. */
  acquire(key: string, signal?: AbortSignal): Promise<Lock>;
  close(): Promise<void>;
}

/** Runs `task` holding the lock on `key`, and releases it whatever happens. */
export async function withLock<T>(locker: Locker, key: string, task: (lock: Lock) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const lock = await locker.acquire(key, signal);
  try {
    return await task(lock);
  } finally {
    await lock.release();
  }
}
