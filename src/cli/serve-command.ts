import { parseArgs } from 'node:util';
import { CONFIG_FLAGS, loadConfig } from '../server/config.js';
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
  const server = await startServer(config);
  console.log(`upwire listening on ${server.url} (uploads in ${config.uploadDir}, database in ${config.dbDir})`);
  await stopped;
  console.log('upwire: shutting down');
  await server.close();
  return 0;
}
