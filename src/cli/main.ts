#!/usr/bin/env node
import { UpwireError } from '../protocol/index.js';
import { ConfigError } from '../server/config.js';
import { serveCommand } from './serve-command.js';
import { UPLOAD_USAGE, uploadCommand, UsageError } from './upload-command.js';
import { WATCH_USAGE, watchCommand } from './watch-command.js';

const USAGE = `usage:
  upwire serve [--port N] [--host H] [--upload-dir DIR] [--db-dir DIR] [--chunk-size BYTES]
               [--max-file-size BYTES] [--upload-token T] [--watch-token T] [--partial-ttl 24h]
               [--fsync on|off] [--log-level info] [--allowed-origins O,O] [--init-rate N]
               [--max-uploads-per-connection N] [--idle-timeout 15m] [--verify received|disk]
               [--max-buffered BYTES] [--max-uploads N] [--max-uploads-per-address N] [--empty-ttl 10m]
               [--max-watchers N] [--allowed-hosts H,H] [--send-timeout 60s]
  ${UPLOAD_USAGE.replace('usage: ', '')}
  ${WATCH_USAGE.replace('usage: ', '')}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serveCommand(rest);
    case 'upload':
      return uploadCommand(rest);
    case 'watch':
      return watchCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    const known = err instanceof UsageError || err instanceof ConfigError || err instanceof UpwireError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    console.error(`upwire: ${known ? (err as Error).message : String((err as Error).stack ?? err)}`);
    process.exitCode = 2;
  },
);
