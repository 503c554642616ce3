import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { CONFIG_FLAGS, ConfigError, loadConfig } from '../server/config.js';
import { startServer } from '../server/index.js';
import { parseWorkers, runWorkers } from './workers.js';

/**
 * Runs the server until SIGTERM or SIGINT, then drains (downloads and frames in flight finish, for
 * up to DRAIN_TIMEOUT), shuts down cleanly and exits 0. A second signal stops at once.
 */
export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries([...CONFIG_FLAGS, 'workers'].map((flag) => [flag, { type: 'string' as const }])),
  });
  const { workers, ...flags } = values as Record<string, string | undefined>;
  const config = loadConfig(process.env, flags);
  const count = workers === undefined ? 1 : parseWorkers(workers);
  if (count > 1) return runWorkers(count, argv.filter((arg, i) => arg !== '--workers' && argv[i - 1] !== '--workers' && !arg.startsWith('--workers=')), config);
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
  // A worker's primary says it once for all (workers.ts).
  if (!cluster.isWorker) console.log(`upwire listening on ${server.url} (uploads in ${config.uploadDir}, ${config.redisUrl ? 'state in Redis' : `database in ${config.dbDir}`})`);
  await stopped;
  console.log(`upwire: shutting down (draining for up to ${config.drainTimeoutMs / 1000} s; a second signal stops at once)`);
  // What was acknowledged is durable already: stopping at once loses only the frames in flight.
  const force = () => process.exit(1);
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  await server.close({ drainMs: config.drainTimeoutMs });
  process.off('SIGTERM', force);
  process.off('SIGINT', force);
  // A worker's channel to its primary would keep it alive.
  cluster.worker?.disconnect();
  return 0;
}
