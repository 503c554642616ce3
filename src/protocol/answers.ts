/*
 * Validators for what the server answers, used by clients: a client must not trust a server
 * either (a bug, a proxy, an impostor). Each returns a fresh object or throws E_BAD_ANSWER.
 */
export {};
