import { parseArgs } from 'node:util';
import { CONFIG_FLAGS, ConfigError, loadConfig } from '../server/config.js';
import { startServer } from '../server/index.js';

/** Runs the server until SIGTERM or SIGINT, then shuts down cleanly and exits 0. */
export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(CONFIG_FLAGS.map((flag) => [flag, { type: 'string' as const }])),
  });
  const config = loadConfig(process.env, values as Record<string, string | undefined>);
  // Listen for the signals before announcing the URL: whoever reads that line may signal at once.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  const server = await startServer(config).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    // The usual ways a start fails are the operator's to fix: one line, not a stack trace.
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new ConfigError(`cannot listen on ${config.host}:${config.port}: ${code === 'EADDRINUSE' ? 'the port is in use' : code}`);
    }
    throw err;
  });
  console.log(`upwire listening on ${server.url} (uploads in ${config.uploadDir}, database in ${config.dbDir})`);
  await stopped;
  console.log('upwire: shutting down');
  await server.close();
  return 0;
}
