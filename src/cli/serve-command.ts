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
  const server = await startServer(config);
  console.log(`upwire listening on ${server.url} (uploads in ${config.uploadDir}, database in ${config.dbDir})`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  console.log('upwire: shutting down');
  await server.close();
  return 0;
}
