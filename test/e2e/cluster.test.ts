/*
 * Several nodes, one service (issue 12, "Tests"): three `upwire serve` processes in Redis mode on
 * one shared UPLOAD_DIR, behind nginx (round-robin, no stickiness), against a real redis-server.
 * Each test checks the stored bytes by the md5 of UPLOAD_DIR/<md5[0..2]>/<md5>. A failing test's
 * message carries the cluster's timeline and the last lines every node wrote.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createUploader, DEFAULT_MAX_IN_FLIGHT, upload, type UploadResult } from '../../src/client/node.js';
import { chunkCount, MiB, type FileInfo, type ProgressEvent, type Range } from '../../src/protocol/index.js';
import { sendChunks, statusOf } from '../support/chunks.js';
import { clusterUnavailable, nginxUnavailable, startCluster, type Cluster } from '../support/cluster.js';
import { eventually, randomFile, skipWithout, sleep, storedShard, tempDir } from '../support/fixtures.js';
import { connect, filesOnceHashed, ok, request, type RawSocket } from '../support/server.js';

const CHUNK = MiB;
/**
 * What one failed attempt (a lost connection, a refused frame) can cost in chunks sent again: the
 * client's window (maxInFlight, 16 MiB by default) is 16 chunks of 1 MiB sent and not yet
 * answered, each of which the server may not have stored, and the chunk in progress at its edge
 * (as crash-resume.test.ts counts it).
 */
const WINDOW_CHUNKS = DEFAULT_MAX_IN_FLIGHT / CHUNK;
const LOST_PER_FAILURE = WINDOW_CHUNKS + 1;

/** MD5 of a file, read as a stream (the files here are up to 48 MiB). */
function md5OfFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('md5');
    createReadStream(path).on('data', (data) => hash.update(data)).once('error', reject).once('end', () => resolve(hash.digest('hex')));
  });
}

/** The indices in [0, total) not in `ranges` (half-open), ascending. */
function present(ranges: Range[], total: number): number[] {
  const absent = new Set(ranges.flatMap(([start, end]) => Array.from({ length: end - start }, (_, k) => start + k)));
  return Array.from({ length: total }, (_, i) => i).filter((i) => !absent.has(i));
}

describe('several nodes in Redis mode (3 processes, nginx, redis-server)', function () {
  this.timeout(90_000);
  let cluster: Cluster;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const sockets: RawSocket[] = [];
  const open = async (url: string) => {
    const socket = await connect(url);
    sockets.push(socket);
    return socket;
  };

  /** Node crashes before the running test began. */
  let crashedBefore = 0;
  /**
   * The test body, then no node may have exited on its own (a crash of the server); on failure the
   * message gets the cluster's timeline and the nodes' last log lines (this.skip() throws mocha's
   * Pending, not an Error: it passes untouched).
   */
  const explained = (body: (this: Mocha.Context) => Promise<void>) => async function (this: Mocha.Context) {
    crashedBefore = cluster.unexpectedExits().length;
    try {
      await body.call(this);
      expect(cluster.unexpectedExits().slice(crashedBefore), 'nodes that exited on their own').to.deep.equal([]);
    } catch (err) {
      if (err instanceof Error) {
        err.message += `\n----- cluster -----\n${cluster.report()}`;
        // mocha prints only the start of an assertion's message beside its diff: the whole of it instead.
        (err as { showDiff?: boolean }).showDiff = false;
      }
      throw err;
    }
  };

  /**
   * `promise`, or a failure naming `what` after `ms`, or at once when a node has crashed during the
   * test: a test says what went wrong rather than hitting mocha's timeout.
   */
  const within = async <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms / 1000} s`)), ms)));
    const crash = cluster.crash(crashedBefore);
    crash.catch(() => {}); // raced below; when the promise wins, nobody else listens
    try {
      return await Promise.race([promise, late, crash]);
    } finally {
      clearTimeout(timer);
    }
  };

  /**
   * An upload the test disturbs (kills, outages): `watch` follows the bytes the server says it
   * holds, the retries the client met (each noted in the cluster's log) and whether it ended.
   */
  const disturbedUpload = async (path: string, url: string) => {
    const uploader = await createUploader(path, { url, chunkSize: CHUNK, retries: 20 });
    const watch = { held: 0, done: false, retries: [] as string[] };
    uploader.on('progress', (p) => (watch.held = p.bytes));
    uploader.on('retry', ({ error }) => {
      watch.retries.push(error.code);
      cluster.note(`client retries after ${error.code}: ${error.message}`);
    });
    const finished = uploader.start().finally(() => {
      watch.done = true;
      cluster.note('the upload ended');
    });
    return { uploader, watch, finished };
  };

  before(async function () {
    skipWithout(this, clusterUnavailable());
    [cluster, dir] = await Promise.all([startCluster({ nodes: 3, args: ['--chunk-size', '1M'] }), tempDir()]);
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.disconnect();
    if (!cluster) return;
    // A test that failed half-way may leave a node or Redis down: the next test gets them all back.
    for (let i = 0; i < cluster.urls.length; i++) if (!cluster.isUp(i)) await cluster.restart(i);
    if (cluster.redis.pid === undefined) await cluster.redis.restart();
  });
  after(async () => {
    await cluster?.stop();
    await dir?.remove();
  });

  it('a client switched from node A to node B mid-upload sends only the chunks A did not store', explained(async () => {
    const [a, b] = cluster.urls as [string, string];
    const total = 24;
    const file = await randomFile(dir.path, total * CHUNK - 4321, 'switch.bin');
    const first = await open(a);
    const init = await ok(first, 'init', { md5: file.md5, size: file.data.length, name: 'switch.bin', chunkSize: CHUNK });
    expect(init).to.deep.include({ status: 'partial', chunkSize: CHUNK, total, missing: [[0, total]] });
    // Half of the chunks, every other one (not a prefix: B must know which, not how many), each as
    // one frame, and each acknowledged as stored before the client leaves A. The short last chunk
    // (odd) is left to the client.
    const sent = Array.from({ length: total }, (_, i) => i).filter((i) => i % 2 === 0);
    for (const index of sent) {
      const answer = await request(first, 'chunk', { md5: file.md5, index, total, data: file.data.subarray(index * CHUNK, (index + 1) * CHUNK) });
      expect(answer, `chunk ${index} on A`).to.deep.include({ ok: true, index, stored: true });
    }
    first.disconnect();

    // B's init answer lists exactly the chunks A did not store.
    const second = await open(b);
    const onB = await ok(second, 'init', { md5: file.md5, size: file.data.length, name: 'switch.bin', chunkSize: CHUNK });
    if (onB.status !== 'partial') throw new Error(`B answered ${onB.status}, not partial`);
    expect(present(onB.missing, total), 'the chunks B says it holds').to.deep.equal(sent);
    second.disconnect();

    const result = await upload(file.path, { url: b, chunkSize: CHUNK });
    expect(result).to.include({ md5: file.md5, instant: false, chunksSent: total - sent.length, chunksStored: total - sent.length });
    expect(await md5OfFile(cluster.storePath(file.md5))).to.equal(file.md5);
  }));

  it('an upload through nginx while the node serving it is killed -9 (up to 6 times) and restarted: exact bytes, at most a window re-sent per lost connection', explained(async function () {
    if (!cluster.nginx) skipWithout(this, nginxUnavailable() ?? 'the cluster runs without nginx');
    const total = 48;
    const MAX_KILLS = 6;
    const file = await randomFile(dir.path, total * CHUNK, 'balanced.bin');
    const { uploader, watch, finished } = await disturbedUpload(file.path, cluster.url);

    // The k-th kill once the servers hold k/(MAX_KILLS + 1) of the file and more than at the last
    // kill (the client resumed in between), so that every kill lands mid-upload whatever the
    // machine's speed; and always of the node holding the client's connection (the one whose
    // upwire_connections gauge is up), so that every kill makes the client fail over. A killed node
    // is started again at once, in the background (a start takes a second or two on 2 busy cores,
    // about as long as the whole upload, and up to a lease's 10 s more: see cluster.ts); a kill
    // waits until it leaves a node up that is not restarting, so the balancer always has one.
    const kills: { node: number; held: number }[] = [];
    const restarting = new Map<number, Promise<void>>();
    const killer = (async () => {
      const deadline = Date.now() + 60_000;
      for (let k = 1; k <= MAX_KILLS; k++) {
        let serving: number | undefined;
        while (!watch.done && Date.now() < deadline) {
          const due = watch.held >= (k * file.data.length) / (MAX_KILLS + 1) && watch.held > (kills.at(-1)?.held ?? -1)
            && cluster.urls.length - restarting.size >= 2;
          if (due && (serving = await servingNode(cluster, restarting)) !== undefined) break;
          await sleep(10);
        }
        if (watch.done || serving === undefined) return;
        kills.push({ node: serving, held: watch.held });
        await cluster.kill9(serving);
        const node = serving;
        restarting.set(node, sleep(200).then(() => cluster.restart(node)).finally(() => restarting.delete(node)));
      }
    })();
    let result: UploadResult;
    try {
      result = await within(finished, 60_000, 'the upload through nginx');
    } finally {
      if (!watch.done) uploader.abort();
      watch.done = true;
      await killer;
      await Promise.all(restarting.values());
    }
    cluster.note(`upload done: chunksSent ${result.chunksSent}, retries ${watch.retries.join(' ') || 'none'}, kills ${JSON.stringify(kills)}`);

    expect(await md5OfFile(cluster.storePath(file.md5))).to.equal(file.md5);
    expect(result.file).to.include({ md5: file.md5, size: file.data.length });
    // Two failovers at least: the second from a node the client reached through the balancer after the first.
    expect(kills.length, 'kills of the node serving the upload, while it ran').to.be.at.least(2);
    expect(watch.retries.length, 'connections the client lost').to.be.at.least(2);
    // Every chunk was sent at least once (no node may claim one it never got), and each failed
    // attempt costs at most the window (the client's default window is 16 MiB, 16 chunks of 1 MiB)
    // and the chunk in progress. Per attempt, not once for the whole upload: each kill of the serving
    // node drops what is in flight (14 chunks were re-sent after a single kill in a trial run).
    expect(result.chunksSent).to.be.at.least(total);
    expect(result.chunksSent).to.be.at.most(total + LOST_PER_FAILURE * watch.retries.length);
  }));

  it('two nodes racing to merge the same md5 store exactly one correct file', explained(async () => {
    const [a, b] = cluster.urls as [string, string];
    const file = await randomFile(dir.path, 32 * CHUNK - 777, 'race.bin');
    const total = chunkCount(file.data.length, CHUNK);
    const onA = await open(a);
    await ok(onA, 'init', { md5: file.md5, size: file.data.length, name: 'race.bin', chunkSize: CHUNK });
    const acked = new Set<number>();
    await sendChunks(onA, file.md5, file.data, CHUNK, acked);
    expect(acked.size, 'chunks acknowledged by A').to.equal(total);
    const onB = await open(b);
    expect(await ok(onB, 'init', { md5: file.md5, size: file.data.length, name: 'race.bin', chunkSize: CHUNK }))
      .to.deep.include({ status: 'partial', missing: [], next: null });

    const [fromA, fromB] = await Promise.all([request(onA, 'merge', { md5: file.md5 }, 30_000), request(onB, 'merge', { md5: file.md5 }, 30_000)]);
    const files: FileInfo[] = [];
    for (const [node, answer] of [['A', fromA], ['B', fromB]] as const) {
      if (!answer.ok) throw new Error(`merge on ${node}: ${answer.error.code} ${answer.error.message}`);
      expect(answer.status, `merge on ${node}`).to.equal('complete');
      files.push(answer.file);
    }
    // the same file; the later answer may carry the SHA-256 recorded since (SHA256=background)
    const withoutSha256 = ({ sha256: _, ...info }: FileInfo) => info;
    expect(withoutSha256(files[0]!)).to.deep.equal(withoutSha256(files[1]!));
    expect(files[0]).to.include({ md5: file.md5, size: file.data.length });
    const recorded = (await filesOnceHashed(a)).find((f) => f.md5 === file.md5);
    expect(recorded?.sha256).to.equal(createHash('sha256').update(file.data).digest('hex'));

    expect(await md5OfFile(cluster.storePath(file.md5))).to.equal(file.md5);
    const shard = await readdir(storedShard(cluster.uploadDir, file.md5));
    expect(shard.filter((name) => name.includes(file.md5)), 'files in the store for this md5').to.deep.equal([file.md5]);
    // Nothing partial left behind: no temp or sealed copy (given a moment: removal may follow the answer)...
    await eventually(async () => {
      const left = (await readdir(join(cluster.uploadDir, '.partial'))).filter((name) => name.includes(file.md5));
      return left.length === 0;
    }, 2000, `no .partial/${file.md5}.* left`).catch(async (err: Error) => {
      const left = (await readdir(join(cluster.uploadDir, '.partial'))).filter((name) => name.includes(file.md5));
      throw new Error(`${err.message}: ${left.join(', ')}`);
    });
    // ...and no partial state: every node says complete, and lists the file once.
    for (const url of cluster.urls) {
      expect(await statusOf(url, file.md5), `status on ${url}`).to.deep.include({ status: 'complete' });
      const listed = ((await (await fetch(`${url}/files`)).json()) as { files: FileInfo[] }).files.filter((f) => f.md5 === file.md5);
      expect(listed, `${url}/files`).to.have.length(1);
    }
  }));

  it('a watcher on node B sees the progress and completion of an upload made through node A', explained(async () => {
    const [a, b] = cluster.urls as [string, string];
    const total = 16;
    const file = await randomFile(dir.path, total * CHUNK, 'watched.bin');
    const watcher = await open(b);
    const progress: ProgressEvent[] = [];
    const complete: FileInfo[] = [];
    watcher.on('progress', (p) => progress.push(p));
    watcher.on('complete', ({ file: stored }) => complete.push(stored));
    await ok(watcher, 'watch', {});

    const result = await upload(file.path, { url: a, chunkSize: CHUNK });
    expect(result.chunksSent).to.equal(total);
    await eventually(() => complete.some((f) => f.md5 === file.md5), 5000, 'the complete event on B');
    await sleep(500); // a second complete event, or a late progress one, would come within this
    expect(complete.filter((f) => f.md5 === file.md5), 'complete events on B').to.have.length(1);
    expect(complete.find((f) => f.md5 === file.md5)).to.deep.include({ md5: file.md5, size: file.data.length, name: 'watched.bin' });
    const mine = progress.filter((p) => p.md5 === file.md5);
    expect(mine.length, 'progress events on B').to.be.at.least(1);
    for (let i = 1; i < mine.length; i++) expect(mine[i]!.received, 'received never goes back').to.be.at.least(mine[i - 1]!.received);
    expect(mine.at(-1)).to.include({ name: 'watched.bin', size: file.data.length, total, received: total });
    expect(await md5OfFile(cluster.storePath(file.md5))).to.equal(file.md5);
  }));

  it('redis-server killed -9 and restarted mid-upload: the upload completes with exact bytes, at most a window re-sent', explained(async () => {
    const [a] = cluster.urls as [string];
    const total = 32;
    const file = await randomFile(dir.path, total * CHUNK, 'redis-restart.bin');
    const { uploader, watch, finished } = await disturbedUpload(file.path, a);
    let outage: { held: number; doneBefore: boolean } | undefined;
    try {
      await eventually(() => watch.done || watch.held >= 8 * CHUNK, 30_000, 'a quarter of the file stored');
      outage = { held: watch.held, doneBefore: watch.done };
      await cluster.redis.kill9();
      cluster.note(`kill -9 redis-server (the server held ${watch.held} bytes)`);
      await sleep(1000);
      await cluster.redis.restart();
      cluster.note('redis-server restarted');
    } finally {
      if (cluster.redis.pid === undefined) await cluster.redis.restart();
    }
    let result: UploadResult;
    try {
      result = await within(finished, 45_000, 'the upload after the Redis restart');
    } finally {
      if (!watch.done) uploader.abort();
    }
    cluster.note(`upload done: chunksSent ${result.chunksSent}, retries ${watch.retries.join(' ') || 'none'}`);
    expect(outage.doneBefore, 'the upload was still running when Redis died').to.equal(false);
    expect(outage.held).to.be.below(file.data.length);
    expect(await md5OfFile(cluster.storePath(file.md5))).to.equal(file.md5);
    expect(result.file).to.include({ md5: file.md5, size: file.data.length });
    // At most a window (16 chunks of 1 MiB, the client's default 16 MiB, and the chunk in progress)
    // per failure the client met: the outage, and its end when the nodes reconnect, can each fail
    // the frames in flight. What was acknowledged before Redis died is not sent again, and the
    // inits refused while Redis is away send nothing.
    expect(watch.retries.length, 'the client met the outage').to.be.at.least(1);
    expect(result.chunksSent).to.be.within(total, total + LOST_PER_FAILURE * watch.retries.length);
    // Every node still answers from Redis once it is back.
    for (const url of cluster.urls) expect(await statusOf(url, file.md5), `status on ${url}`).to.deep.include({ status: 'complete' });
  }));
});

/** The node holding the client's connection: the one whose upwire_connections gauge is above 0. */
async function servingNode(cluster: Cluster, restarting: Map<number, unknown>): Promise<number | undefined> {
  for (let i = 0; i < cluster.urls.length; i++) {
    if (restarting.has(i) || !cluster.isUp(i)) continue;
    const text = await fetch(`${cluster.urls[i]}/metrics`, { signal: AbortSignal.timeout(1000) }).then((res) => res.text(), () => '');
    const connections = Number(/^upwire_connections (\d+)/m.exec(text)?.[1] ?? 0);
    if (connections > 0) return i;
  }
  return undefined;
}

