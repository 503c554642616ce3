import cluster from 'node:cluster';
import { resolve, sep } from 'node:path';
import { ConfigError, loadConfig, type ServerConfig } from '../server/config/config.js';
import type { UpwireServer } from '../server/index.js';
import { helpText, parseCommand } from './options.js';
import { SERVE } from './serve-help.js';
import { parseWorkers, runWorkers } from './workers.js';

/**
 * Runs the server until SIGTERM or SIGINT, then drains (downloads and frames in flight finish, for
 * up to DRAIN_TIMEOUT), shuts down cleanly and exits 0. A second signal stops at once. A signal
 * that arrives while the server is still starting ends it at once, with 0: it has accepted nothing
 * yet, and a start that hangs (a Redis that accepts and never answers) must not swallow the signal.
 */
export async function serveCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(SERVE, argv);
  if (!parsed) {
    console.log(helpText(SERVE));
    return 0;
  }
  const { workers, ...flags } = parsed.values as Record<string, string | undefined>;
  // The server's packages are loaded once the command line is read: a mistake in it, or --help,
  // needs none of them (a client-only install has none).
  const { startServer } = await import('../server/index.js');
  const config = loadConfig(process.env, flags);
  const count = workers === undefined ? 1 : parseWorkers(workers);
  if (count > 1) return runWorkers(count, argv.filter((arg, i) => arg !== '--workers' && argv[i - 1] !== '--workers' && !arg.startsWith('--workers=')), config);
  // A worker is told to stop by its primary (SIGTERM). Ctrl-C in a terminal sends SIGINT to the
  // whole process group: a worker that took it as its first signal would take the primary's SIGTERM
  // as a second one and stop without draining, so a worker leaves SIGINT to the primary.
  const signals: NodeJS.Signals[] = cluster.isWorker ? ['SIGTERM'] : ['SIGTERM', 'SIGINT'];
  if (cluster.isWorker) process.on('SIGINT', () => {});
  // Listen for the signals before announcing the URL: whoever reads that line may signal at once.
  let server: UpwireServer | undefined;
  let onSignal = () => {};
  const stopped = new Promise<void>((done) => {
    onSignal = () => {
      if (server) return done();
      // Still starting: nothing to drain. Exiting drops whatever the start holds (a database being
      // opened, a connection being made), as a kill would, which the stores survive by design.
      if (!cluster.isWorker) console.log('upwire: stopped before it was ready');
      process.exit(0);
    };
    for (const signal of signals) process.once(signal, onSignal);
  });
  try {
    server = await startServer(config);
  } catch (err) {
    // The default action again, so a signal after a failed start is not swallowed while main reports it.
    for (const signal of signals) process.off(signal, onSignal);
    throw startError(err, config);
  }
  // A worker's primary says it once for all (workers.ts).
  if (!cluster.isWorker) console.log(`upwire listening on ${server.url} (uploads in ${config.uploadDir}, ${config.redisUrl ? 'state in Redis' : `database in ${config.dbDir}`})`);
  await stopped;
  console.log(`upwire: shutting down (draining for up to ${config.drainTimeoutMs / 1000} s; a second signal stops at once)`);
  // What was acknowledged is durable already: stopping at once loses only the frames in flight.
  const force = () => process.exit(1);
  for (const signal of signals) process.once(signal, force);
  await server.close({ drainMs: config.drainTimeoutMs });
  for (const signal of signals) process.off(signal, force);
  // A worker's channel to its primary would keep it alive.
  cluster.worker?.disconnect();
  return 0;
}

/**
 * The usual ways a start fails are the operator's to fix (a port in use, an unreachable Redis, an
 * UPLOAD_DIR that is a file or not writable): one line naming the setting, not a stack trace. An
 * error that is not the system's (a bug) keeps its stack.
 */
function startError(err: unknown, config: ServerConfig): unknown {
  const { code, syscall, path, message } = (err ?? {}) as Partial<NodeJS.ErrnoException>;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    if (syscall === 'listen' || path === undefined) {
      return new ConfigError(`cannot listen on ${config.host}:${config.port}: ${code === 'EADDRINUSE' ? 'the port is in use' : code}`);
    }
  }
  // node-redis gives up on a first connection that fails (refused, timed out, an unknown host, a
  // refused AUTH) with the socket's error attached (its ReconnectStrategyError).
  if (config.redisUrl !== undefined && typeof err === 'object' && err !== null && 'socketError' in err) {
    return new ConfigError(`cannot use Redis at REDIS_URL: ${message}`);
  }
  if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code) || typeof message !== 'string') return err;
  if (typeof path === 'string') {
    const inside = (dir: string) => resolve(path) === resolve(dir) || resolve(path).startsWith(resolve(dir) + sep);
    const setting = inside(config.uploadDir) ? 'UPLOAD_DIR' : inside(config.dbDir) ? 'DB_DIR' : undefined;
    if (setting) return new ConfigError(`${setting} cannot be used: ${message}`);
  }
  return new ConfigError(`cannot start: ${message}`);
}
