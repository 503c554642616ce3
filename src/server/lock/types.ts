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

/**
 * A lock as the work it guards sees it (the lock's key and fencing token), given to a store's
 * writes so that a store shared by nodes refuses them once the lock was granted to another holder.
 */
export interface Fence { key: string; token: number }

/** What a task run under a lock holds: the fence for its writes, and the signal that says the lock was lost. */
export interface Guard {
  readonly fence: Fence;
  readonly signal: AbortSignal;
}

/**
 * Runs `task` holding the lock on `key`, and releases it whatever happens. The task gets the
 * lock's guard: it passes `fence` to the writes it makes and `signal` to long work (a hash pass),
 * and checks the signal before a step that must not happen once another holder may have the key.
 */
export async function withLock<T>(locker: Locker, key: string, task: (guard: Guard) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const lock = await locker.acquire(key, signal);
  try {
    return await task({ fence: { key, token: lock.token }, signal: lock.signal });
  } finally {
    await lock.release();
  }
}
