import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import {
  PROTOCOL_VERSION, UPLOAD_NAMESPACE,
  type Answer, type ClientToServerEvents, type RequestName, type Result, type ServerToClientEvents,
} from '../../src/protocol/index.js';
import type { Socket } from 'socket.io-client';
import { DEFAULTS, startServer, type ServerConfig, type UpwireServer } from '../../src/server/index.js';
import { createLogger } from '../../src/server/observe/log.js';
import { tempDir } from './fixtures.js';

/** The CLI the tests run; UPWIRE_TEST_CLI points them at another build (to see a test fail on an older one). */
export const CLI = process.env.UPWIRE_TEST_CLI ?? join(fileURLToPath(new URL('.', import.meta.url)), '../../src/cli/main.js');

export interface TestServer extends UpwireServer {
  config: ServerConfig;
  /** Stops the server and removes its directories. */
  stop(): Promise<void>;
}

/** A real server on port 0 with real LevelDB and upload dirs in a fresh temp directory. */
export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const dir = await tempDir();
  const config: ServerConfig = {
    ...DEFAULTS,
    port: 0,
    uploadDir: join(dir.path, 'uploads'),
    dbDir: join(dir.path, 'db'),
    chunkSize: 64 * 1024,
    fsync: false,
    ...overrides,
  };
  const server = await startServer(config, { logger: createLogger('silent', false) });
  let stopped = false;
  return {
    ...server,
    config,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      await dir.remove();
    },
  };
}

/**
 * The server's file listing once every file in it has its SHA-256 (SHA256=background records it
 * after the merge); after `timeoutMs`, the listing as it is.
 */
export async function filesOnceHashed(url: string, timeoutMs = 10_000): Promise<{ md5: string; sha256?: string }[]> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const { files } = (await (await fetch(`${url}/files`)).json()) as { files: { md5: string; sha256?: string }[] };
    if (files.every((file) => file.sha256 !== undefined) || Date.now() > deadline) return files;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export type RawSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** A plain socket.io client on /upload, for driving the protocol by hand; it states the protocol version unless `auth` says otherwise. */
export async function connect(url: string, auth: Record<string, unknown> = {}): Promise<RawSocket> {
  const socket: RawSocket = io(`${url}${UPLOAD_NAMESPACE}`, { transports: ['websocket'], auth: { protocol: PROTOCOL_VERSION, ...auth }, reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return socket;
}

/** Sends one request and returns the raw result, ok or not. */
export function request<E extends RequestName>(socket: RawSocket, event: E, payload: unknown, timeoutMs = 10_000): Promise<Result<Answer<E>>> {
  const timed = socket.timeout(timeoutMs);
  return (timed.emitWithAck as (ev: string, p: unknown) => Promise<Result<Answer<E>>>).call(timed, event, payload);
}

/** Sends one request and returns its ok answer, failing the test on an error answer. */
export async function ok<E extends RequestName>(socket: RawSocket, event: E, payload: unknown): Promise<Answer<E>> {
  const result = await request(socket, event, payload);
  if (!result.ok) throw new Error(`${event} failed: ${result.error.code} ${result.error.message}`);
  return result;
}

/** The server as a separate process (`upwire serve`), so a test can kill -9 it. */
export async function spawnServer(dirs: { uploadDir: string; dbDir: string }, env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--upload-dir', dirs.uploadDir, '--db-dir', dirs.dbDir], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });
  return { url, child };
}

export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}
