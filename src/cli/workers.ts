/*
 * `upwire serve --workers N`: N server processes sharing one port (node:cluster; the primary
 * accepts connections and hands them round-robin to the workers), for a machine with more cores
 * than one process can use (hashing is a core's work). Workers share nothing in memory, so this
 * needs Redis mode: any worker takes any chunk of any upload, and watchers see every worker's.
 *
 * The primary ends in every case, and says why in one line:
 * - a signal: each worker drains and stops; exit 0 (a second signal kills them; exit 0 as well,
 *   what was acknowledged is durable already);
 * - a worker that exits 2 before it listens, at the first start: it could not start for a reason a
 *   retry does not change (a bad setting, an unreachable Redis, an unusable UPLOAD_DIR, the port in
 *   use), the same as `upwire serve` without --workers; exit 2 with the worker's line;
 * - not every worker listening START_TIMEOUT_MS after the start (a start that hangs), or workers
 *   failing at start MAX_EARLY_EXITS times in a row; exit 2.
 * Whatever way it stops, a worker still running STOP_GRACE_MS after its drain could end is killed.
 */
import cluster, { type Worker } from 'node:cluster';
import { ConfigError, type ServerConfig } from '../server/config/config.js';
import { isStartFailure } from './start-failure.js';
import { SERVER_MALLOC_ENV, SERVER_NODE_FLAGS } from './tuning.js';

/** A worker that dies this soon after it started, or before it listened, counts as failing to start. */
const EARLY_EXIT_MS = 2000;
/** Early exits in a row after which the primary gives up (a worker that crashes as it starts). */
const MAX_EARLY_EXITS = 3;
/** Every worker listens this soon after the primary starts them, or the primary gives up. */
const START_TIMEOUT_MS = 60_000;
/** How long after its drain could have ended a worker is killed. */
const STOP_GRACE_MS = 10_000;
/** How long the primary waits for a dead worker's channel to close (it closes at once in practice). */
const CHANNEL_CLOSE_MS = 1000;

export function parseWorkers(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 64) throw new ConfigError(`--workers = ${JSON.stringify(value)}: must be a whole number from 1 to 64`);
  return n;
}

interface Running {
  forkedAt: number;
  listening: boolean;
  /** Why it could not start, in its own words (start-failure.ts). */
  failure?: string;
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
    const running = new Map<Worker, Running>();
    /** The exit code once stopping. */
    let exitCode: number | undefined;
    let earlyExits = 0;
    let announced = false;
    let killTimer: NodeJS.Timeout | undefined;

    const fork = () => running.set(cluster.fork({ ...SERVER_MALLOC_ENV, ...process.env, UPWIRE_WORKER: '1' }), { forkedAt: Date.now(), listening: false });
    const finish = () => {
      if (exitCode === undefined || running.size > 0) return;
      clearTimeout(startTimer);
      clearTimeout(killTimer);
      cluster.off('listening', onListening).off('message', onMessage).off('exit', onExit);
      process.off('SIGTERM', onSignal).off('SIGINT', onSignal);
      resolve(exitCode);
    };
    const stop = (code: number) => {
      exitCode = code;
      clearTimeout(startTimer);
      for (const worker of running.keys()) worker.process.kill('SIGTERM');
      // A worker that neither drains nor stops in time (a hook that hangs its close) must not keep the primary.
      killTimer = setTimeout(() => {
        for (const worker of running.keys()) worker.process.kill('SIGKILL');
      }, config.drainTimeoutMs + STOP_GRACE_MS);
      finish();
    };
    const giveUp = (line: string) => {
      console.error(line);
      stop(2);
    };

    const onListening = (worker: Worker, address: { port: number }) => {
      const state = running.get(worker);
      if (!state || exitCode !== undefined) return;
      state.listening = true;
      const listening = [...running.values()].filter((s) => s.listening).length;
      if (announced || listening < count) return;
      announced = true;
      clearTimeout(startTimer);
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      console.log(`upwire listening on http://${host}:${address.port} (${count} workers, uploads in ${config.uploadDir}, state in Redis)`);
    };
    const onMessage = (worker: Worker, message: unknown) => {
      const state = running.get(worker);
      if (state && isStartFailure(message)) state.failure = message.line;
    };
    const onExit = (worker: Worker, code: number | null, signal: string | null) => {
      const state = running.get(worker);
      if (!state) return;
      const decide = () => {
        clearTimeout(timer);
        if (running.has(worker)) exited(worker, state, signal ?? `code ${code}`, code);
      };
      // Its last message (why it failed) may still be unread in the channel: decide once the channel
      // is closed (its end follows the last message), or after a moment in any case.
      const timer = setTimeout(decide, CHANNEL_CLOSE_MS);
      if (worker.isConnected()) worker.once('disconnect', decide);
      else decide();
    };
    const exited = (worker: Worker, state: Running, how: string, code: number | null) => {
      running.delete(worker);
      if (exitCode !== undefined) return finish();
      // Exit 2 is `upwire serve` refusing to start (main.ts): until the first start has succeeded, a retry would fail alike.
      if (!announced && !state.listening && code === 2) return giveUp(state.failure ?? `upwire: a worker could not start (${how}); stopping`);
      const early = !state.listening || Date.now() - state.forkedAt < EARLY_EXIT_MS;
      earlyExits = early ? earlyExits + 1 : 0;
      if (earlyExits >= MAX_EARLY_EXITS) {
        const why = state.failure === undefined ? '' : `: ${state.failure.replace(/^upwire: /, '')}`;
        return giveUp(`upwire: workers keep exiting at start (last: ${how}${why}); stopping`);
      }
      console.error(`upwire: worker ${worker.process.pid} exited (${how}); starting another`);
      fork();
    };
    const onSignal = () => {
      if (exitCode !== undefined) {
        // A second signal (or one while giving up): every worker stops at once (what was acknowledged is durable already).
        for (const worker of running.keys()) worker.process.kill('SIGKILL');
        return;
      }
      console.log(`upwire: shutting down ${running.size} workers (draining for up to ${config.drainTimeoutMs / 1000} s)`);
      stop(0);
    };
    const startTimer = setTimeout(() => {
      const listening = [...running.values()].filter((s) => s.listening).length;
      giveUp(`upwire: ${listening} of ${count} workers listening ${START_TIMEOUT_MS / 1000} s after the start; stopping`);
    }, START_TIMEOUT_MS);

    cluster.on('listening', onListening).on('message', onMessage).on('exit', onExit);
    process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
    for (let i = 0; i < count; i++) fork();
  });
}
