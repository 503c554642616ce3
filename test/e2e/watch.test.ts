import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { createUploader, upload, watch, type EndedEvent, type FileInfo, type UploadSnapshot, type Watcher } from '../../src/client/node.js';
import { MIN_FRAME_SIZE } from '../../src/protocol/index.js';
import { createLogger } from '../../src/server/observe/log.js';
import { eventually, md5Of, randomFile, sleep, tempDir } from '../support/fixtures.js';
import { CLI, connect, ok, request, startTestServer, type TestServer } from '../support/server.js';

const CHUNK = 64 * 1024;

/** Everything a watcher saw, in order. */
function record(watcher: Watcher) {
  const progress: UploadSnapshot[] = [];
  const complete: FileInfo[] = [];
  const ended: EndedEvent[] = [];
  watcher.on('progress', (p) => progress.push(p));
  watcher.on('complete', (f) => complete.push(f));
  watcher.on('ended', (e) => ended.push(e));
  return { progress, complete, ended };
}

describe('watching uploads live', () => {
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const watchers: Watcher[] = [];
  beforeEach(async () => {
    server = await startTestServer({ chunkSize: CHUNK });
    dir = await tempDir();
  });
  afterEach(async () => {
    for (const w of watchers.splice(0)) w.close();
    await server.stop();
    await dir.remove();
  });
  const open = async (md5?: string) => {
    const w = await watch({ url: server.url, ...(md5 ? { md5 } : {}) });
    watchers.push(w);
    return w;
  };

  it('a watcher of everything and a watcher of one md5 see real uploads from another client, in order, ending complete', async () => {
    const a = await randomFile(dir.path, 60 * CHUNK, 'a.bin');
    const b = await randomFile(dir.path, 30 * CHUNK, 'b.bin');
    const all = record(await open());
    const onlyA = record(await open(a.md5));
    await Promise.all([upload(a.path, { url: server.url }), upload(b.path, { url: server.url })]);
    await eventually(() => all.complete.length === 2 && onlyA.complete.length === 1, 5000, 'complete events');
    expect(all.complete.map((f) => f.md5).sort()).to.deep.equal([a.md5, b.md5].sort());
    expect(onlyA.complete.map((f) => f.md5)).to.deep.equal([a.md5]);
    expect(onlyA.progress.every((p) => p.md5 === a.md5)).to.equal(true);
    for (const [events, md5, total] of [[all.progress, a.md5, 60], [all.progress, b.md5, 30], [onlyA.progress, a.md5, 60]] as const) {
      const mine = events.filter((p) => p.md5 === md5);
      expect(mine.length).to.be.greaterThan(0);
      for (let i = 1; i < mine.length; i++) expect(mine[i]!.received).to.be.at.least(mine[i - 1]!.received);
      expect(mine.at(-1)).to.include({ received: total, total, bytes: total * CHUNK });
    }
  });

  it('gives a late watcher a snapshot of uploads in flight, with bytes, rate and the sending clients', async () => {
    const file = await randomFile(dir.path, 40 * CHUNK, 'slow.bin');
    const uploader = await createUploader(file.path, { url: server.url, maxInFlight: 1 * CHUNK });
    let paused = false;
    uploader.on('progress', (p) => {
      if (!paused && p.bytes >= 10 * CHUNK) {
        paused = true;
        uploader.pause();
      }
    });
    const done = uploader.start();
    await eventually(() => uploader.phase === 'paused', 5000, 'pause');
    await sleep(100);
    const late = await open();
    const snapshot = late.uploads.find((u) => u.md5 === file.md5);
    expect(snapshot).to.include({ name: 'slow.bin', size: 40 * CHUNK, total: 40 });
    expect(snapshot!.received).to.be.within(10, 12);
    // bytes: the stored chunks, and what is written of the chunk in progress when the upload paused
    expect(snapshot!.bytes).to.be.within(snapshot!.received * CHUNK, (snapshot!.received + 1) * CHUNK);
    expect(snapshot!.rate).to.be.a('number');
    expect(snapshot!.clients).to.have.length(1);
    const seen = record(late);
    uploader.resume();
    await done;
    await eventually(() => seen.complete.length === 1, 5000, 'complete');
    expect(seen.progress.at(-1)).to.include({ received: 40 });
  });

  it('throttles progress to a few events a second per upload, always delivering the final state', async () => {
    const file = await randomFile(dir.path, 400 * CHUNK, 'fast.bin');
    const seen = record(await open());
    const started = Date.now();
    await upload(file.path, { url: server.url, maxInFlight: 8 * CHUNK });
    const elapsedMs = Date.now() - started;
    await eventually(() => seen.complete.length === 1, 5000, 'complete');
    // 400 chunks stored; at most one event per 200 ms window, plus the leading and the final one
    expect(seen.progress.length).to.be.at.most(Math.ceil(elapsedMs / 200) + 2);
    expect(seen.progress.length).to.be.below(400);
    expect(seen.progress.at(-1)).to.include({ received: 400, total: 400 });
  });

  it('a watcher that never reads does not stop an upload, and is sent only throttled events', async () => {
    const stalled = await connect(server.url);
    await ok(stalled, 'watch', {});
    // stop reading the socket: the kernel buffers fill and the server's writes to it back up
    const tcp = (stalled.io.engine.transport as unknown as { ws: { _socket: import('node:net').Socket } }).ws._socket;
    tcp.pause();
    const file = await randomFile(dir.path, 300 * CHUNK, 'busy.bin');
    const counted = record(await open());
    const result = await upload(file.path, { url: server.url });
    expect(result.file.md5).to.equal(file.md5);
    await eventually(() => counted.complete.length === 1, 5000, 'complete');
    expect(counted.progress.length).to.be.below(50);
    tcp.resume();
    stalled.disconnect();
  });

  it('tells watchers when an upload is aborted or fails verification', async () => {
    const seen = record(await open());
    const socket = await connect(server.url);
    try {
      const data = Buffer.alloc(2 * CHUNK, 1);
      const md5 = md5Of(data);
      await ok(socket, 'init', { md5, size: data.length, name: 'gone.bin' });
      await ok(socket, 'abort', { md5 });
      const forged = md5Of(Buffer.from('not this'));
      await ok(socket, 'init', { md5: forged, size: CHUNK, name: 'forged.bin' });
      await ok(socket, 'chunk', { md5: forged, index: 0, total: 1, data: Buffer.alloc(CHUNK) });
      expect((await request(socket, 'merge', { md5: forged })).ok).to.equal(false);
      await eventually(() => seen.ended.length === 2, 5000, 'ended events');
      expect(seen.ended).to.deep.equal([{ id: md5, md5, reason: 'aborted' }, { id: forged, md5: forged, reason: 'failed', code: 'E_CHECKSUM' }]);
    } finally {
      socket.disconnect();
    }
  });

  it('tells watchers when a partial upload expires', async () => {
    await server.stop();
    server = await startTestServer({ partialTtlMs: 300 });
    const seen = record(await open());
    const socket = await connect(server.url);
    const md5 = md5Of(Buffer.from('expiring'));
    await ok(socket, 'init', { md5, size: 8, name: 'old.bin' });
    socket.disconnect();
    await eventually(() => seen.ended.length === 1, 10_000, 'expiry');
    expect(seen.ended[0]).to.deep.equal({ id: md5, md5, reason: 'expired' });
  });
});

describe('WATCH_TOKEN: watching without upload rights', () => {
  it('lets the watch token watch and read /metrics, and nothing else', async () => {
    const server = await startTestServer({ uploadToken: 'up', watchToken: 'look' });
    try {
      const watcher = await watch({ url: server.url, token: 'look' });
      expect(watcher.uploads).to.deep.equal([]);
      watcher.close();
      const socket = await connect(server.url, { token: 'look' });
      const refused = await request(socket, 'init', { md5: md5Of(Buffer.from('x')), size: 1, name: 'x' });
      expect(refused.ok || refused.error.code).to.equal('E_UNAUTHORIZED');
      socket.disconnect();
      expect((await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer look' } })).status).to.equal(200);
      expect((await fetch(`${server.url}/metrics`)).status).to.equal(401);
      expect((await fetch(`${server.url}/files`, { headers: { authorization: 'Bearer look' } })).status).to.equal(401);
      const err = await watch({ url: server.url, token: 'nope', retries: 0 }).catch((e: { code: string }) => e);
      expect(err).to.have.property('code', 'E_UNAUTHORIZED');
    } finally {
      await server.stop();
    }
  });
});

/** Prometheus text format: `# HELP`/`# TYPE` comments and `name{labels} value` samples, nothing else. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* /.test(line)) continue;
    // values as Go's ParseFloat reads them: numbers, and NaN / +Inf / -Inf in any case
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|nan|[+-]inf)$/i.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${line}`);
    samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

describe('GET /metrics and the structured log', () => {
  it('parses as Prometheus text, and its counters move by exactly the uploads made', async () => {
    const server = await startTestServer({ chunkSize: CHUNK });
    const dir = await tempDir();
    try {
      const metrics = async () => parsePrometheus(await (await fetch(`${server.url}/metrics`)).text());
      const before = await metrics();
      const a = await randomFile(dir.path, 3 * CHUNK + 5, 'a.bin');
      const b = await randomFile(dir.path, CHUNK, 'b.bin');
      await upload(a.path, { url: server.url });
      await upload(b.path, { url: server.url });
      await upload(a.path, { url: server.url }); // instant
      const socket = await connect(server.url);
      await request(socket, 'init', { md5: 'nope', size: 1, name: 'x' });
      const after = await metrics();
      socket.disconnect();
      const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
      expect(delta('upwire_uploads_started_total')).to.equal(2);
      expect(delta('upwire_uploads_completed_total')).to.equal(2);
      expect(delta('upwire_uploads_instant_total')).to.equal(1);
      expect(delta('upwire_chunks_received_total')).to.equal(5);
      expect(delta('upwire_received_bytes_total')).to.equal(4 * CHUNK + 5);
      expect(delta('upwire_requests_failed_total{code="E_BAD_REQUEST"}')).to.equal(1);
      expect(delta('upwire_verification_seconds_count')).to.equal(2);
      // one write per frame: at least one per chunk, at most one per smallest frame
      expect(delta('upwire_disk_write_seconds_count')).to.be.within(5, 5 + Math.ceil((4 * CHUNK + 5) / MIN_FRAME_SIZE));
      expect(after.get('upwire_connections')).to.equal(1);
      expect(after.get('upwire_active_uploads')).to.equal(0);
      expect(after.get('upwire_process_resident_memory_bytes')).to.be.greaterThan(0);
    } finally {
      await server.stop();
      await dir.remove();
    }
  });

  it('logs one JSON line per lifecycle event with the connection, md5 and client address', async () => {
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (d: Buffer) => (text += d.toString()));
    const { startServer, DEFAULTS } = await import('../../src/server/index.js');
    const dir = await tempDir();
    const server = await startServer(
      { ...DEFAULTS, port: 0, uploadDir: `${dir.path}/u`, dbDir: `${dir.path}/db`, fsync: false },
      { logger: createLogger('info', false, stream) },
    );
    try {
      const file = await randomFile(dir.path, 1000, 'logged.bin');
      await upload(file.path, { url: server.url });
      await upload(file.path, { url: server.url });
      const socket = await connect(server.url);
      await request(socket, 'merge', { md5: '0'.repeat(32) });
      socket.disconnect();
      await sleep(50);
      const events = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const lifecycle = events.filter((e) => e.md5 !== undefined).map((e) => [e.event, e.md5]);
      expect(lifecycle).to.deep.equal([['init', file.md5], ['complete', file.md5], ['instant', file.md5], ['merge', '0'.repeat(32)]]);
      for (const e of events.filter((e) => e.md5 !== undefined)) {
        expect(e.conn).to.be.a('string');
        expect(e.addr).to.match(/127\.0\.0\.1/);
      }
      expect(events.at(-1)).to.include({ level: 40, code: 'E_UNKNOWN_UPLOAD' });
    } finally {
      await server.close();
      await dir.remove();
    }
  });
});

describe('CLI: upwire watch (not a TTY)', () => {
  it('prints progress lines for an upload and exits 0 when the watched md5 completes', async () => {
    const server = await startTestServer({ chunkSize: CHUNK });
    const dir = await tempDir();
    try {
      const file = await randomFile(dir.path, 50 * CHUNK, 'watched.bin');
      const child = spawn(process.execPath, [CLI, 'watch', '--url', server.url, '--md5', file.md5], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await eventually(() => out.includes('snapshot'), 10_000, 'the watcher to start');
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      await upload(file.path, { url: server.url, maxInFlight: 1 * CHUNK });
      expect(await exited).to.equal(0);
      expect(out).to.match(new RegExp(`progress ${file.md5} "watched.bin" \\d+/50 chunks`));
      expect(out).to.include(`complete ${file.md5} "watched.bin" ${50 * CHUNK} bytes`);
      // already stored: exits at once
      const again = await new Promise<{ code: number; stdout: string }>((resolve) =>
        execFile(process.execPath, [CLI, 'watch', '--url', server.url, '--md5', file.md5], (err, stdout) => resolve({ code: err ? 1 : 0, stdout })));
      expect(again.code).to.equal(0);
      expect(again.stdout).to.include(`complete ${file.md5}`);
    } finally {
      await server.stop();
      await dir.remove();
    }
  });

  it('watches every upload until SIGINT, then exits 0', async () => {
    const server = await startTestServer();
    try {
      const child = spawn(process.execPath, [CLI, 'watch', '--url', server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await eventually(() => out.includes('snapshot 0 upload(s) in progress'), 10_000, 'the watcher to start');
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      expect(await exited).to.equal(0);
    } finally {
      await server.stop();
    }
  });
});
