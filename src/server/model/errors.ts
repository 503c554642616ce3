/** A setting, option or store that cannot work: a start error, said in one line. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The state several nodes share cannot be read or written now: a store that is unreachable (Redis
 * restarting, a network blip), a lock's lease lost with it, or a write refused because the lock it
 * was made under was granted again. The request is worth retrying; the socket layer answers a
 * retryable E_BUSY for anything that carries this code (in its chain of causes), whatever its class.
 */
export class StoreUnavailable extends Error {
  readonly code = 'E_STORE_UNAVAILABLE';
}
