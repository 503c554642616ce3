/*
 * Several upwire nodes in Redis mode, as separate processes, for the tests of issue 12: a real
 * redis-server (redis.ts), N `upwire serve` on fixed loopback ports (so a node killed -9 comes back
 * on the same port, where nginx and the tests expect it) sharing one UPLOAD_DIR, each with a DB_DIR
 * of its own (unused in Redis mode: a node that opened it anyway would still not share it), and
 * nginx in front of them all when it is installed (nginx.ts, round-robin, no stickiness).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep, storedPath, tempDir } from './fixtures.js';
import { nginxUnavailable, startNginx, type Nginx } from './nginx.js';
import { redisUnavailable, startRedis, type RedisServer } from './redis.js';
import { freePort } from './procs.js';
import { CLI } from './server.js';

/** Lines kept of each node's output (stdout's JSON log lines and stderr), across its restarts. */
const LOG_LINES = 300;
/**
 * A node lists every upload in Redis and recovers each under its lock before it listens: after a
 * kill -9 that can wait out the dead node's lease (10 s) on top of the start itself.
 */
const START_TIMEOUT_MS = 30_000;

export interface ClusterOptions {
  /** Nodes to start (default 3). */
  nodes?: number;
  /** nginx in front of every node, when installed (default true); `cluster.nginx` says whether it runs. */
  nginx?: boolean;
  /** More `upwire serve` flags for every node, e.g. ['--chunk-size', '1M']. */
  args?: string[];
  /** More environment for every node. */
  env?: Record<string, string>;
  /** More environment for node `i` only (a failpoint armed on one node, say). */
  nodeEnv?: (i: number) => Record<string, string>;
}

export interface Cluster {
  redis: RedisServer;
  /** The one UPLOAD_DIR every node shares. */
  uploadDir: string;
  /** Each node's own URL, http://127.0.0.1:<port>, the same after a restart. */
  urls: string[];
  /** nginx in front of every node, when it is installed and was asked for. */
  nginx: Nginx | undefined;
  /** What a client is given: `<nginx>/uploads` (deploy/nginx.conf's prefix), or node 0 without nginx. */
  url: string;
  /** Where a verified file is stored: UPLOAD_DIR/<md5[0..2]>/<md5>. */
  storePath(md5: string): string;
  /** Whether node `i` is running, and its process id then. */
  isUp(i: number): boolean;
  pid(i: number): number | undefined;
  /** Kills node `i` as a crash would (SIGKILL), and waits for it to be gone. */
  kill9(i: number): Promise<void>;
  /** Starts node `i` again on its port, and waits until it listens. */
  restart(i: number): Promise<void>;
  /** Nodes that exited without kill9 or stop (a crash of the server itself), with their last words. */
  unexpectedExits(): string[];
  /**
   * Rejects with a node's last words as soon as one exits without kill9 or stop, beyond the first
   * `since` such exits (default: those so far): race a wait against it.
   */
  crash(since?: number): Promise<never>;
  /** Adds a line to the timeline printed by report(). */
  note(event: string): void;
  /** The timeline (kills, restarts, notes) and the last lines of every node's output: for a failing test's message. */
  report(lines?: number): string;
  /** Stops every node, nginx and redis-server, and removes their directories. */
  stop(): Promise<void>;
}

/** Why the cluster cannot run here (no redis-server), or undefined. nginx is optional: see `cluster.nginx`. */
export function clusterUnavailable(): string | undefined {
  return redisUnavailable();
}

/** Why the balancer cannot run here, or undefined. */
export { nginxUnavailable };

/** One `upwire serve` process on a fixed port, started again by restart() after a kill. */
class NodeProcess {
  readonly index: number;
  readonly port: number;
  readonly #args: string[];
  readonly #env: Record<string, string>;
  readonly #log: string[] = [];
  readonly #unexpected: { push(line: string): void };
  #child: ChildProcess | undefined;
  /** Set before a kill or a stop: the exit that follows is ours, not a crash. */
  #expectExit = false;

  constructor(index: number, port: number, args: string[], env: Record<string, string>, unexpected: { push(line: string): void }) {
    this.index = index;
    this.port = port;
    this.#args = args;
    this.#env = env;
    this.#unexpected = unexpected;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.up ? this.#child?.pid : undefined;
  }

  get up(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  tail(lines: number): string[] {
    return this.#log.slice(-lines);
  }

  #record(pid: number | undefined, text: string): void {
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      this.#log.push(`[node ${this.index} pid ${pid}] ${line.length > 600 ? `${line.slice(0, 600)}...` : line}`);
    }
    if (this.#log.length > LOG_LINES) this.#log.splice(0, this.#log.length - LOG_LINES);
  }

  /**
   * Spawns the node and resolves once it says it listens; rejects with its last lines when it exits
   * first. A port still held a moment after a kill (it should not be: a listening socket dies with
   * its process) is tried again a few times rather than moved: nginx knows the node by its port.
   */
  async start(): Promise<void> {
    if (this.up) throw new Error(`node ${this.index} is running already`);
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#spawnOnce();
      if (outcome === true) return;
      if (attempt < 5 && outcome.includes('the port is in use')) {
        await sleep(300);
        continue;
      }
      throw new Error(`node ${this.index} did not start on port ${this.port}: ${outcome}\n${this.tail(20).join('\n')}`);
    }
  }

  #spawnOnce(): Promise<true | string> {
    this.#expectExit = false;
    const child = spawn(process.execPath, [CLI, 'serve', '--port', String(this.port), ...this.#args], {
      env: { ...process.env, ...this.#env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    const pid = child.pid;
    return new Promise((resolve) => {
      let out = '';
      let listening = false;
      const timer = setTimeout(() => {
        this.#expectExit = true;
        child.kill('SIGKILL');
        resolve(`not listening after ${START_TIMEOUT_MS} ms`);
      }, START_TIMEOUT_MS);
      child.stdout!.on('data', (data: Buffer) => {
        this.#record(pid, data.toString());
        if (listening) return;
        out += data.toString();
        if (/listening on http:\/\/\S+/.test(out)) {
          listening = true;
          out = '';
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.stderr!.on('data', (data: Buffer) => this.#record(pid, data.toString()));
      child.once('error', (err) => {
        clearTimeout(timer);
        resolve(err.message);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        const how = `exited with ${code ?? signal}`;
        this.#record(pid, `(${how})`);
        if (!listening) return resolve(`${how}: ${this.tail(5).join(' | ')}`);
        if (!this.#expectExit) this.#unexpected.push(`node ${this.index} (pid ${pid}) ${how}: ${this.tail(16).join('\n')}`);
      });
    });
  }

  async kill9(): Promise<void> {
    const child = this.#child;
    if (!child || !this.up) return;
    this.#expectExit = true;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  }

  /** SIGTERM (the node drains for up to --drain-timeout), SIGKILL if it is not gone within 10 s. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || !this.up) return;
    this.#expectExit = true;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
}


/** Starts redis-server, the nodes (in parallel) and nginx; whatever started is stopped again if a later step fails. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const count = options.nodes ?? 3;
  const dir = await tempDir('upwire-cluster-');
  const uploadDir = join(dir.path, 'uploads');
  const timeline: string[] = [];
  const started = Date.now();
  const note = (event: string) => timeline.push(`+${((Date.now() - started) / 1000).toFixed(2)}s ${event}`);
  const unexpected: string[] = [];
  const crashWaiters: ((line: string) => void)[] = [];
  const crashes = {
    push(line: string) {
      unexpected.push(line);
      note(`crash: ${line.split('\n')[0]}`);
      for (const wake of crashWaiters.splice(0)) wake(line);
    },
  };
  const nodes: NodeProcess[] = [];
  let redis: RedisServer | undefined;
  let nginx: Nginx | undefined;

  const stop = async () => {
    await nginx?.stop();
    await Promise.all(nodes.map((node) => node.stop()));
    await redis?.stop();
    await dir.remove();
  };

  try {
    redis = await startRedis();
    await mkdir(uploadDir, { recursive: true });
    for (let i = 0; i < count; i++) {
      const dbDir = join(dir.path, `db-${i}`);
      const args = ['--upload-dir', uploadDir, '--db-dir', dbDir, '--drain-timeout', '2s', ...(options.args ?? [])];
      // Ports are taken one after the other: two nodes must not be given the same free port.
      const port = await freePort();
      nodes.push(new NodeProcess(i, port, args, { REDIS_URL: redis.url, ...options.env, ...options.nodeEnv?.(i) }, crashes));
    }
    await Promise.all(nodes.map((node) => node.start()));
    note(`started redis on ${redis.port} and ${count} nodes on ports ${nodes.map((n) => n.port).join(', ')}`);
    if (options.nginx !== false && !nginxUnavailable()) nginx = await startNginx(nodes.map((node) => node.url));
  } catch (err) {
    await stop();
    throw err;
  }
  const node = (i: number) => {
    const found = nodes[i];
    if (!found) throw new Error(`no node ${i} (the cluster has ${nodes.length})`);
    return found;
  };

  return {
    redis,
    uploadDir,
    urls: nodes.map((n) => n.url),
    nginx,
    url: nginx ? `${nginx.url}/uploads` : nodes[0]!.url,
    storePath: (md5) => storedPath(uploadDir, md5),
    isUp: (i) => node(i).up,
    pid: (i) => node(i).pid,
    async kill9(i) {
      const pid = node(i).pid;
      await node(i).kill9();
      note(`kill -9 node ${i} (pid ${pid})`);
    },
    async restart(i) {
      await node(i).start();
      note(`restarted node ${i} (pid ${node(i).pid})`);
    },
    unexpectedExits: () => [...unexpected],
    crash: (since = unexpected.length) => new Promise<never>((_, reject) => {
      const fail = (line: string) => reject(new Error(`a node crashed: ${line}`));
      const already = unexpected[since];
      if (already !== undefined) fail(already);
      else crashWaiters.push(fail);
    }),
    note,
    report(lines = 40) {
      return [
        'timeline:', ...timeline.map((line) => `  ${line}`),
        ...nodes.flatMap((n) => [`node ${n.index} (port ${n.port}, ${n.up ? `up, pid ${n.pid}` : 'down'}), last lines:`, ...n.tail(lines)]),
      ].join('\n');
    },
    stop,
  };
}
