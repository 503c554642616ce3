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

/** `upwire` alone, `upwire --help`, or an unknown command: the commands, and where each one's options are. */
function usage(): string {
  return `usage: upwire <command> [options]

commands:
  serve     run the upload server
  upload    upload files to a server, resuming where a previous run stopped
  watch     show the uploads in flight on a server
  delete    delete your stored files from a server

upwire <command> --help lists the command's options and their defaults.
upwire --version prints the version.`;
}

/** The version of the package this CLI belongs to (its package.json, three folders up from dist/src/cli). */
async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
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
    case '--version':
    case '-v':
    case 'version':
      console.log(await version());
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      if (command === undefined) console.error(usage());
      else console.log(usage());
      return command === undefined ? 2 : 0;
    default:
      console.error(`upwire: unknown command ${JSON.stringify(command)} (see upwire --help)`);
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
