/*
 * The server's packages are optional peer dependencies of upwire (a client-only install has none of
 * them), so a missing one is a user's install to fix, not a bug: these name what to install. Node
 * reports a package it cannot load as ERR_MODULE_NOT_FOUND ("Cannot find package 'level' imported
 * from ..."), and pino a transport it cannot find (pino-pretty, loaded only for a terminal).
 * Imports nothing, so a caller can load it before it knows whether the rest loads.
 */

/** What `upwire serve` and `upwire/server` need. */
export const SERVER_PACKAGES = ['socket.io', 'level', 'pino', 'pino-pretty', 'prom-client'] as const;
/** And those of Redis mode (REDIS_URL) and object storage (S3_BUCKET). */
export const REDIS_PACKAGES = ['redis', '@socket.io/redis-adapter'] as const;
export const S3_PACKAGES = ['@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner'] as const;

const ALL: readonly string[] = [...SERVER_PACKAGES, ...REDIS_PACKAGES, ...S3_PACKAGES];

/** The peer package a failure to load is missing, if that is what it is. */
export function missingPeerPackage(err: unknown): string | undefined {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (typeof message !== 'string') return undefined;
  const name = code === 'ERR_MODULE_NOT_FOUND' ? /Cannot find package '([^']+)'/.exec(message)?.[1]
    : /unable to determine transport target for "([^"]+)"/.exec(message)?.[1];
  return name !== undefined && ALL.includes(name) ? name : undefined;
}

/** One line: who needs what, and the `npm install` that provides it (every package of that group, not only the one found missing). */
export function installLine(who: string, missing: string): string {
  const group: readonly string[] = (REDIS_PACKAGES as readonly string[]).includes(missing) ? REDIS_PACKAGES
    : (S3_PACKAGES as readonly string[]).includes(missing) ? S3_PACKAGES : SERVER_PACKAGES;
  return `${who} needs the server's packages (${missing} is missing): npm install ${group.join(' ')}`;
}
