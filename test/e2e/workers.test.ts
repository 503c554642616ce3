/*
 * `upwire serve --workers N`: N processes on one port, in Redis mode. One listening line, uploads
 * through any worker, a worker killed -9 replaced, SIGTERM stopping them all; and without REDIS_URL
 * a one-line refusal. Workers that cannot start (an unreachable Redis, an UPLOAD_DIR that is a
 * file) end the primary with exit 2 and the reason in one line, as `upwire serve` alone does; a
 * signal while they are still starting (a Redis that accepts and never answers) ends it with 0.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { upload } from '../../src/client/node.js';
import { eventually, md5Of, randomFile, skipWithout, storedPath, tempDir } from '../support/fixtures.js';
import { freePort } from '../support/procs.js';
import { redisUnavailable, startRedis, type RedisServer } from '../support/redis.js';
import { CLI, exited } from '../support/server.js';

/** The processes whose parent is `pid` (the workers of a primary). */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) children.push(Number(entry));
  }
  return children;
}

/** The processes whose command line mentions `text` (a test's own temp directory): workers left behind. */
async function processesMentioning(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) found.push(Number(entry));
  }
  return found;
}

/** The exit of `child`, or a failure once `ms` have passed: a bound on correctness (it must end), not a speed measurement. */
async function exitWithin(child: ChildProcess, ms: number, what: () => string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms (${what()})`)), ms);
  });
  try {
    return await Promise.race([exited(child), late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('upwire serve --workers', function () {
  this.timeout(60_000);
  let redis: RedisServer | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let primary: ChildProcess | undefined;
  before(async function () {
    skipWithout(this, redisUnavailable());
    redis = await startRedis();
  });
  after(async () => redis?.stop());
  beforeEach(async () => (dir = await tempDir()));
  afterEach(async () => {
    if (primary && primary.exitCode === null && primary.signalCode === null) {
      for (const pid of await childrenOf(primary.pid!)) process.kill(pid, 'SIGKILL');
      primary.kill('SIGKILL');
      await exited(primary);
    }
    primary = undefined;
    await dir.remove();
  });

  it('runs N workers on one port, replaces one killed -9, and stops them all on SIGTERM', async () => {
    const uploadDir = join(dir.path, 'uploads');
    primary = spawn(process.execPath, [CLI, 'serve', '--workers', '2', '--port', '0', '--upload-dir', uploadDir, '--db-dir', join(dir.path, 'db'), '--chunk-size', '64K'], {
      env: { ...process.env, REDIS_URL: redis!.url }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    primary.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    primary.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = await eventually(() => /upwire listening on (http:\S+) \(2 workers/.exec(stdout)?.[1], 20_000, `the listening line (stderr: ${stderr})`);
    expect(stdout.match(/listening on/g), 'one line for all workers').to.have.length(1);
    const workers = await childrenOf(primary.pid!);
    expect(workers).to.have.length(2);

    const file = await randomFile(dir.path, 3 * 1024 * 1024 + 5);
    expect((await upload(file.path, { url, hashCache: false })).file.md5).to.equal(file.md5);

    process.kill(workers[0]!, 'SIGKILL');
    await eventually(async () => (await childrenOf(primary!.pid!)).filter((pid) => pid !== workers[0]).length === 2 || undefined, 20_000, 'a replacement worker');
    expect(stderr).to.match(new RegExp(`worker ${workers[0]} exited \\(SIGKILL\\); starting another`));
    const other = await randomFile(dir.path, 2 * 1024 * 1024 + 7, 'second.bin');
    expect((await upload(other.path, { url, hashCache: false })).file.md5).to.equal(other.md5);
    expect(md5Of(await readFile(storedPath(uploadDir, other.md5)))).to.equal(other.md5);

    primary.kill('SIGTERM');
    expect((await exited(primary)).code, stderr).to.equal(0);
    expect(await childrenOf(primary.pid!)).to.deep.equal([]);
  });

  it('refuses --workers without REDIS_URL, in one line', async () => {
    const env = { ...process.env };
    delete env.REDIS_URL;
    const child = spawn(process.execPath, [CLI, 'serve', '--workers', '2', '--port', '0', '--upload-dir', join(dir.path, 'u'), '--db-dir', join(dir.path, 'db')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    expect((await exited(child)).code).to.equal(2);
    expect(stderr).to.equal('upwire: --workers needs REDIS_URL: worker processes share upload state, locks and watch events through Redis\n');
  });
});

describe('upwire serve --workers whose workers cannot start', function () {
  this.timeout(60_000);
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let primary: ChildProcess | undefined;
  let stderr: string;
  beforeEach(async () => {
    dir = await tempDir();
    stderr = '';
  });
  afterEach(async () => {
    // A primary that did not end is the failure; its workers are found by the directory in their arguments.
    for (const pid of await processesMentioning(dir.path)) process.kill(pid, 'SIGKILL');
    if (primary) await exited(primary);
    primary = undefined;
    await dir.remove();
  });

  const serve = (redisUrl: string, uploadDir = join(dir.path, 'uploads'), workers = ['--workers', '2']) => {
    primary = spawn(process.execPath, [CLI, 'serve', ...workers, '--port', '0', '--upload-dir', uploadDir, '--db-dir', join(dir.path, 'db')], {
      env: { ...process.env, REDIS_URL: redisUrl, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    primary.stdout!.resume();
    primary.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return primary;
  };

  it('exits 2 with one line when Redis cannot be reached, as without --workers', async () => {
    const port = await freePort(); // nothing listens there
    const { code } = await exitWithin(serve(`redis://127.0.0.1:${port}`), 20_000, () => stderr);
    expect(code, stderr).to.equal(2);
    expect(stderr).to.equal(`upwire: cannot use Redis at REDIS_URL: connect ECONNREFUSED 127.0.0.1:${port}\n`);
    expect(await processesMentioning(dir.path), 'workers left running').to.deep.equal([]);
    // The same line and code from one process.
    const workersLine = stderr;
    stderr = '';
    expect((await exitWithin(serve(`redis://127.0.0.1:${port}`, join(dir.path, 'uploads'), []), 20_000, () => stderr)).code, stderr).to.equal(2);
    expect(stderr).to.equal(workersLine);
  });

  it('exits 2 with one line when UPLOAD_DIR is a regular file', async function () {
    skipWithout(this, redisUnavailable());
    const redis = await startRedis();
    try {
      const file = join(dir.path, 'a-file');
      await writeFile(file, 'not a directory');
      const { code } = await exitWithin(serve(redis.url, file), 20_000, () => stderr);
      expect(code, stderr).to.equal(2);
      expect(stderr).to.equal(`upwire: UPLOAD_DIR cannot be used: ENOTDIR: not a directory, mkdir '${file}/.partial'\n`);
      expect(await processesMentioning(dir.path), 'workers left running').to.deep.equal([]);
    } finally {
      await redis.stop();
    }
  });

  for (const [signal, workers] of [['SIGTERM', 2], ['SIGINT', 2], ['SIGTERM', 1]] as const) {
    it(`${signal} while ${workers === 1 ? 'the server (no --workers) is' : 'the workers are'} still starting ends ${workers === 1 ? 'it' : 'the primary and them'}, with exit 0`, async () => {
      // A "Redis" that accepts connections and never answers: each worker's start waits on it.
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => sockets.add(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      try {
        const child = serve(`redis://127.0.0.1:${(silent.address() as AddressInfo).port}`, join(dir.path, 'uploads'), workers === 1 ? [] : ['--workers', String(workers)]);
        // Every server process is inside its start, waiting for an answer, when the signal comes.
        await eventually(() => sockets.size >= workers || undefined, 20_000, `${workers} processes connecting (stderr: ${stderr})`);
        expect(await processesMentioning(dir.path)).to.have.length(workers === 1 ? 1 : workers + 1);
        child.kill(signal);
        const { code } = await exitWithin(child, 20_000, () => stderr);
        expect(code, stderr).to.equal(0);
        expect(await processesMentioning(dir.path), 'workers left running').to.deep.equal([]);
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });
  }
});
