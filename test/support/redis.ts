import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { tempDir } from './fixtures.js';
import { freePort, stopChild, untilReady } from './procs.js';

/**
 * Debian's redis-server (`apt-get install redis-server`; .ci/run installs it), or REDIS_SERVER_PATH.
 * /usr/sbin and /usr/bin are searched too, whatever the PATH.
 */
export function redisServerBinary(): string | undefined {
  if (process.env.REDIS_SERVER_PATH) return existsSync(process.env.REDIS_SERVER_PATH) ? process.env.REDIS_SERVER_PATH : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/sbin'];
  return dirs.map((dir) => join(dir, 'redis-server')).find((path) => existsSync(path));
}

/** Why redis-server cannot run here, or undefined when it can. */
export function redisUnavailable(): string | undefined {
  return redisServerBinary() ? undefined : 'no redis-server (apt-get install redis-server, or set REDIS_SERVER_PATH)';
}

export interface RedisServer {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  /** The server's process id while it runs. */
  readonly pid: number | undefined;
  /** Stops the server (SIGTERM) and removes its directory. */
  stop(): Promise<void>;
  /** Kills the server as a crash would: no shutdown, nothing flushed beyond what it already wrote. */
  kill9(): Promise<void>;
  /** Starts it again on the same port and directory (after kill9, or stopping it first): the AOF is replayed. */
  restart(): Promise<void>;
}

/**
 * A real redis-server on a free loopback port, its AOF fsynced at every write (the settings the
 * docs/several-nodes.md asks for) and no RDB snapshots, everything in a temp directory, logging to redis.log there.
 */
export async function startRedis(): Promise<RedisServer> {
  const binary = redisServerBinary();
  if (!binary) throw new Error(redisUnavailable());
  const dir = await tempDir('upwire-redis-');
  let child: ChildProcess | undefined;
  let port = 0;
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir.path, '--appendonly', 'yes', '--appendfsync', 'always',
      '--save', '', '--logfile', join(dir.path, 'redis.log')];
    child = spawn(binary, args, { stdio: 'ignore' });
    return answering(child, port);
  };
  try {
    // The port is free when asked for and taken a moment later: another process may take it in between.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const started = await start();
      if (started === true) break;
      const log = await readFile(join(dir.path, 'redis.log'), 'utf8').catch(() => '');
      if (attempt < 3 && log.includes('Address already in use')) continue;
      throw new Error(`redis-server did not start (${started}): ${log.trim().split('\n').slice(-5).join('\n')}`);
    }
  } catch (err) {
    await dir.remove();
    throw err;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    async stop() {
      if (child) await stopChild(child, 'SIGTERM');
      await dir.remove();
    },
    async kill9() {
      if (child) await stopChild(child, 'SIGKILL');
    },
    async restart() {
      if (child) await stopChild(child, 'SIGTERM');
      const started = await start();
      if (started !== true) throw new Error(`redis-server did not start again on port ${port} (${started})`);
    },
  };
}

/** True once the server answers PING with PONG (not LOADING: the AOF is replayed); otherwise why not. */
function answering(child: ChildProcess, port: number): Promise<true | string> {
  return untilReady(child, () => pong(port), 'no PONG');
}

function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      reply += data.toString();
      if (reply.includes('\r\n')) socket.destroy();
    });
    socket.once('error', () => {});
    socket.once('close', () => resolve(reply.startsWith('+PONG')));
  });
}


