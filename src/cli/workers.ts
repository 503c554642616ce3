/*
 * `upwire serve --workers N`: N server processes sharing one port (node:cluster; the primary
 * accepts connections and hands them round-robin to the workers), for a machine with more cores
 * than one process can use (hashing is a core's work). Workers share nothing in memory, so this
 * needs Redis mode: any worker takes any chunk of any upload, and watchers see every worker's.
 */
import cluster, { type Worker } from 'node:cluster';
import { ConfigError, type ServerConfig } from '../server/config.js';
import { SERVER_MALLOC_ENV, SERVER_NODE_FLAGS } from './tuning.js';

/** A worker that dies this soon after it started counts as failing to start. */
const EARLY_EXIT_MS = 2000;
/** Early exits in a row after which the primary gives up (a bad setting, a port in use). */
const MAX_EARLY_EXITS = 3;

export function parseWorkers(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 64) throw new ConfigError(`--workers = ${JSON.stringify(value)}: must be a whole number from 1 to 64`);
  return n;
}

/**
 * The primary: forks `count` workers running `upwire serve` with `args` (the same settings, without
 * --workers), prints one line once all listen, replaces a worker that dies (kill -9, out of memory),
 * and on SIGTERM or SIGINT lets each drain and stop. Resolves to the exit code.
 */
export function runWorkers(count: number, args: string[], config: ServerConfig): Promise<number> {
  if (!config.redisUrl) {
    return Promise.reject(new ConfigError('--workers needs REDIS_URL: worker processes share upload state, locks and watch events through Redis'));
  }
  // Workers start as `npm start` starts a server (tuning.ts), unless this process was given other flags.
  const execArgv = process.execArgv.some((flag) => flag.startsWith('--initial-old-space-size')) ? process.execArgv : [...process.execArgv, ...SERVER_NODE_FLAGS];
  cluster.setupPrimary({ exec: process.argv[1]!, args: ['serve', ...args], execArgv, silent: false });
  return new Promise((resolve) => {
    let stopping = false;
    let earlyExits = 0;
    let announced = false;
    const started = new Map<Worker, number>();
    const listening = new Set<Worker>();
    const fork = () => started.set(cluster.fork({ ...SERVER_MALLOC_ENV, ...process.env, UPWIRE_WORKER: '1' }), Date.now());
    cluster.on('listening', (worker, address) => {
      listening.add(worker);
      if (announced || listening.size < count) return;
      announced = true;
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      console.log(`upwire listening on http://${host}:${address.port} (${count} workers, uploads in ${config.uploadDir}, state in Redis)`);
    });
    cluster.on('exit', (worker, code, signal) => {
      const early = Date.now() - (started.get(worker) ?? 0) < EARLY_EXIT_MS;
      started.delete(worker);
      listening.delete(worker);
      if (stopping) {
        if (started.size === 0) resolve(0);
        return;
      }
      earlyExits = early ? earlyExits + 1 : 0;
      if (earlyExits >= MAX_EARLY_EXITS) {
        console.error(`upwire: workers keep exiting at start (last: ${signal ?? `code ${code}`}); stopping`);
        stopping = true;
        for (const other of started.keys()) other.process.kill('SIGTERM');
        if (started.size === 0) resolve(1);
        return;
      }
      console.error(`upwire: worker ${worker.process.pid} exited (${signal ?? `code ${code}`}); starting another`);
      fork();
    });
    const stop = () => {
      if (stopping) {
        // A second signal: every worker stops at once (what was acknowledged is durable already).
        for (const worker of started.keys()) worker.process.kill('SIGKILL');
        return;
      }
      stopping = true;
      console.log(`upwire: shutting down ${started.size} workers (draining for up to ${config.drainTimeoutMs / 1000} s)`);
      for (const worker of started.keys()) worker.process.kill('SIGTERM');
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    for (let i = 0; i < count; i++) fork();
  });
}
