#!/usr/bin/env node
/*
 * Each command's module is imported when that command runs: `upload` and `watch` need only the
 * client, and a client-only install has none of the server's packages (they are optional peer
 * dependencies), so loading the server for them would fail.
 */
import { reportFailure } from './start-failure.js';

/** The optional peer dependencies `upwire serve` needs, for the one line that says what to install. */
const SERVER_PACKAGES = ['socket.io', 'level', 'pino', 'pino-pretty', 'prom-client'];
/** And those of Redis mode (REDIS_URL) and object storage (S3_BUCKET), also optional peers. */
const REDIS_PACKAGES = ['redis', '@socket.io/redis-adapter'];
const S3_PACKAGES = ['@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner'];
/** Errors whose message is meant for the user: one line, no stack. Matched by name, so this file loads none of their modules. */
const USER_ERRORS = new Set(['UsageError', 'ConfigError', 'UpwireError', 'MissingPackageError']);

class MissingPackageError extends Error {
  override name = 'MissingPackageError';
}

async function usage(): Promise<string> {
  const [{ UPLOAD_USAGE }, { WATCH_USAGE }, { DELETE_USAGE }] = await Promise.all([import('./upload-command.js'), import('./watch-command.js'), import('./delete-command.js')]);
  return `usage:
  upwire serve [--port N] [--host H] [--upload-dir DIR] [--db-dir DIR] [--chunk-size BYTES]
               [--max-file-size BYTES] [--upload-token T] [--watch-token T] [--partial-ttl 24h]
               [--fsync on|off] [--log-level info] [--allowed-origins O,O] [--init-rate N]
               [--max-uploads-per-connection N] [--idle-timeout 15m] [--verify received|disk]
               [--max-buffered BYTES] [--max-uploads N] [--max-uploads-per-address N] [--empty-ttl 10m]
               [--max-watchers N] [--allowed-hosts H,H] [--send-timeout 60s] [--trust-proxy N]
               [--drain-timeout 30s] [--redis-url redis://H:P] [--workers N] [--deletes auth|open|off]
  ${UPLOAD_USAGE.replace('usage: ', '')}
  ${WATCH_USAGE.replace('usage: ', '')}
  ${DELETE_USAGE.replace('usage: ', '')}`;
}

/**
 * The server package a failure to load or start `serve` is missing, if that is what it is: Node's
 * ERR_MODULE_NOT_FOUND names it ("Cannot find package 'level' imported from …"), and pino names
 * the transport it cannot find (pino-pretty, loaded only when stdout is a terminal).
 */
function missingServerPackage(err: unknown): string | undefined {
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof message !== 'string') return undefined;
  const name = code === 'ERR_MODULE_NOT_FOUND' ? /Cannot find package '([^']+)'/.exec(message)?.[1]
    : /unable to determine transport target for "([^"]+)"/.exec(message)?.[1];
  return name !== undefined && [...SERVER_PACKAGES, ...REDIS_PACKAGES, ...S3_PACKAGES].includes(name) ? name : undefined;
}

async function serve(argv: string[]): Promise<number> {
  try {
    const { serveCommand } = await import('./serve-command.js');
    return await serveCommand(argv);
  } catch (err) {
    const missing = missingServerPackage(err);
    if (missing === undefined) throw err;
    // Thrown, not printed: a worker of `serve --workers` hands the line to its primary like any other.
    throw new MissingPackageError(REDIS_PACKAGES.includes(missing)
      ? `Redis mode (REDIS_URL) needs ${missing}: npm install ${REDIS_PACKAGES.join(' ')}`
      : S3_PACKAGES.includes(missing)
        ? `object storage (S3_BUCKET) needs ${missing}: npm install ${S3_PACKAGES.join(' ')}`
        : `serve needs the server's packages (${missing} is missing): npm install ${SERVER_PACKAGES.join(' ')}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'upload':
      return (await import('./upload-command.js')).uploadCommand(rest);
    case 'watch':
      return (await import('./watch-command.js')).watchCommand(rest);
    case 'delete':
      return (await import('./delete-command.js')).deleteCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(await usage());
      return command === undefined ? 2 : 0;
    default:
      console.error(`upwire: unknown command ${JSON.stringify(command)}\n${await usage()}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    const known = USER_ERRORS.has((err as Error | undefined)?.name ?? '') || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    // A worker of `serve --workers` hands the line to its primary and exits; any other process prints it.
    reportFailure(`upwire: ${known ? (err as Error).message : String((err as Error).stack ?? err)}`, 2);
  },
);
