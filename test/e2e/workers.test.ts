/*
 * `upwire serve --workers N`: N processes on one port, in Redis mode. One listening line, uploads
 * through any worker, a worker killed -9 replaced, SIGTERM stopping them all; and without REDIS_URL
 * a one-line refusal.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { upload } from '../../src/client/node.js';
import { eventually, md5Of, randomFile, skipWithout, tempDir } from '../support/fixtures.js';
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
    expect(md5Of(await readFile(join(uploadDir, other.md5.slice(0, 2), other.md5)))).to.equal(other.md5);

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
