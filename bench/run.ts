/*
 * npm run bench [-- --runs 5 --size-mib 1024 --large-mib 4096 --small-files 2000 --sections a,b
 *                  --baseline <dir of another upwire checkout, built> --link-runs 1 --crowd-runs 1]
 * Every comparison is measured in the same run, interleaved, on this machine; the table shows
 * medians. Results go to bench/results/latest.json and latest.md; a run of some sections only, to
 * <sections>.json and .md (so it does not replace the full run docs/benchmarks.md quotes).
 * Sections: large (1 GiB end to end, phases, instant, watcher, probe), small (many small files),
 * concurrent (16 x 64 MiB), rss (4 GiB peak RSS), browser (MD5 in Chromium), links (shaped
 * uplinks, as root), crowd (100 and 300 clients at once), crowd-fixed (100 and 300 clients at once,
 * each with a fixed window of 4 frames of 1 MiB), s3 (1 GiB into S3 on radosgw against @tus/s3-store).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { tempDir } from '../test/support/fixtures.js';
import { CLI } from '../test/support/server.js';
import { benchBrowserHash } from './browser-hash.js';
import { browserUpload, browserUploadRows } from './browser-upload.js';
import { crowds } from './crowd.js';
import { fixedWindowCrowds } from './crowd-fixed.js';
import { LINKS, shapedLinks } from './links.js';
import { latencyProbe, stalledWatcher } from './probes.js';
import { s3Rows, s3Uploads } from './s3.js';
import { readdir, stat } from 'node:fs/promises';
import { childrenCpu, cpuOf, startService, startUpwire, stopService, timed } from './procs.js';
import { median, randomFileOfSize } from './util.js';

const here = new URL('.', import.meta.url).pathname;
const ALL_SECTIONS = ['large', 'small', 'concurrent', 'rss', 'browser', 'links', 'crowd', 'crowd-fixed', 's3', 'browser-upload'];
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'size-mib': { type: 'string', default: '1024' },
    'large-mib': { type: 'string', default: '4096' },
    'small-files': { type: 'string', default: '2000' },
    sections: { type: 'string', default: ALL_SECTIONS.join(',') },
    baseline: { type: 'string' },
    'link-runs': { type: 'string', default: '1' },
    'crowd-runs': { type: 'string', default: '1' },
    'no-browser': { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const SIZE = Number(values['size-mib']);
const LARGE = Number(values['large-mib']);
const SMALL = Number(values['small-files']);
const SECTIONS = new Set(values.sections.split(',').filter((s) => !(values['no-browser'] && s.startsWith('browser'))));
/** The CLI of another upwire build (an earlier commit, say) for the 1 GiB end-to-end before/after. */
const BASELINE_CLI = values.baseline ? join(values.baseline, 'dist/src/cli/main.js') : undefined;
const FRAME = 1024 * 1024;
const IN_FLIGHT = 16 * 1024 * 1024;
/** The client hashes every time unless a section measures the cache. */
const CLIENT_ENV = { UPWIRE_HASH_CACHE: 'off' };

const samples = new Map<string, number[]>();
const record = (key: string, value: number) => samples.set(key, [...(samples.get(key) ?? []), value]);
const med = (key: string) => median(samples.get(key) ?? [NaN]);

const root = await tempDir('upwire-bench-');
const fresh = async (name: string) => {
  const dir = join(root.path, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
};

async function upwireServer(fsync: 'on' | 'off', cli = CLI, cpus?: string) {
  const dir = await fresh(`upwire-${fsync}`);
  return startUpwire(['--port', '0', '--upload-dir', join(dir, 'uploads'), '--db-dir', join(dir, 'db'), '--fsync', fsync], { cli, cpus });
}

/** The CLI upload, its wall time and its CPU seconds (user + system); `cpus` pins it. */
async function upwireUpload(url: string, files: string[], extra: string[] = [], cli = CLI, cpus?: string) {
  const before = await childrenCpu();
  const args = [cli, 'upload', ...files, '--url', url, ...extra];
  const { seconds, stdout } = cpus ? await timed('taskset', ['-c', cpus, process.execPath, ...args], CLIENT_ENV) : await timed(process.execPath, args, CLIENT_ENV);
  const after = await childrenCpu();
  const results = stdout.trim().split('\n').map((l) => JSON.parse(l) as { hashSeconds: number; transferSeconds: number; instant: boolean });
  return { seconds, results, cpu: after.user + after.system - before.user - before.system };
}

/** CPU seconds a service has used since `start` (a reading of cpuOf). */
async function cpuSince(service: { child: { pid?: number } }, start: { user: number; system: number }): Promise<number> {
  const now = await cpuOf(service.child.pid!);
  return now.user + now.system - start.user - start.system;
}

/** Waits until every file the server lists has its SHA-256 record (SHA256=background writes it after the merge). */
async function untilSha256Recorded(url: string): Promise<void> {
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
    const { files } = (await (await fetch(`${url}/files`)).json()) as { files: { sha256?: string }[] };
    if (files.every((file) => file.sha256)) return;
  }
  throw new Error('the SHA-256 record was not written within 120 s');
}

/** The largest file under `dir`: what tus stored. */
async function largestFile(dir: string): Promise<string> {
  let best = { path: '', size: -1 };
  for (const name of await readdir(dir)) {
    const { size } = await stat(join(dir, name));
    if (size > best.size) best = { path: join(dir, name), size };
  }
  return best.path;
}

async function tusServer() {
  const dir = await fresh('tus');
  return { ...(await startService([join(here, 'tus-server.js'), dir])), dir };
}

async function tusUpload(endpoint: string, files: string[], parallel: number) {
  return timed(process.execPath, [join(here, 'tus-client.js'), endpoint, String(parallel), ...files]);
}

function log(text: string) {
  process.stderr.write(`${text}\n`);
}

// End to end, phases, instant re-upload, peak RSS, a stalled watcher, other connections' latency.
async function oneLargeFile() {
  const file = await randomFileOfSize(root.path, SIZE);
  for (let run = 1; run <= RUNS; run++) {
    log(`[${SIZE} MiB] run ${run}/${RUNS}`);
    record('md5sum', (await timed('md5sum', [file])).seconds);
    for (const fsync of ['off', 'on'] as const) {
      const server = await upwireServer(fsync);
      const serverStart = await cpuOf(server.child.pid!);
      const probe = fsync === 'off' ? await latencyProbe(server.url) : undefined;
      const { seconds, results, cpu } = await upwireUpload(server.url, [file]);
      record(`upwire-${fsync}-client-cpu`, cpu);
      record(`upwire-${fsync}-server-cpu-answer`, await cpuSince(server, serverStart));
      // SHA256=background: the record's SHA-256 is the server's work too; its CPU counts once written.
      const answered = performance.now();
      await untilSha256Recorded(server.url);
      record(`upwire-${fsync}-sha256-after`, (performance.now() - answered) / 1000);
      record(`upwire-${fsync}-server-cpu`, await cpuSince(server, serverStart));
      if (probe) {
        const lag = await probe.stop();
        record('probe-p50', lag.p50);
        record('probe-p99', lag.p99);
        record('probe-max', lag.max);
      }
      record(`upwire-${fsync}`, seconds);
      record(`upwire-${fsync}-hash`, results[0]!.hashSeconds);
      record(`upwire-${fsync}-transfer`, results[0]!.transferSeconds);
      if (fsync === 'off') {
        const cacheServer = await upwireServer('off');
        const cache = await timed(process.execPath, [join(here, 'cache-probe.js'), cacheServer.url, file]);
        await stopService(cacheServer);
        const { firstFrameMs, instantMs } = JSON.parse(cache.stdout) as { firstFrameMs: number; instantMs: number };
        record('cache-resume-first-frame', firstFrameMs / 1000);
        record('cache-instant', instantMs / 1000);
        const again = await upwireUpload(server.url, [file]);
        if (!again.results[0]!.instant) throw new Error('the re-upload was not instant');
        record('instant', again.seconds);
        record('instant-inproc', again.results[0]!.hashSeconds + again.results[0]!.transferSeconds);
        // the same upload again (a fresh server) with a watcher that never reads
        const watched = await upwireServer('off');
        const stalled = await stalledWatcher(watched.url);
        record('stalled-watcher', (await upwireUpload(watched.url, [file])).seconds);
        stalled.close();
        await stopService(watched);
      }
      record(`upwire-${fsync}-rss`, await stopService(server));
    }
    // The same upload with each side on a core of its own, as two machines would be.
    {
      const server = await upwireServer('off', CLI, '0');
      const serverStart = await cpuOf(server.child.pid!);
      const { seconds, cpu } = await upwireUpload(server.url, [file], [], CLI, '1');
      await untilSha256Recorded(server.url);
      record('pinned', seconds);
      record('pinned-client-cpu', cpu);
      record('pinned-server-cpu', await cpuSince(server, serverStart));
      await stopService(server);
    }
    if (BASELINE_CLI) {
      const server = await upwireServer('off', BASELINE_CLI);
      record('baseline-off', (await upwireUpload(server.url, [file], [], BASELINE_CLI)).seconds);
      record('baseline-off-rss', await stopService(server));
    }
    const tus = await tusServer();
    const tusStart = await cpuOf(tus.child.pid!);
    const tusBefore = await childrenCpu();
    const tusSeconds = (await tusUpload(tus.url, [file], 1)).seconds;
    const tusAfter = await childrenCpu();
    record('tus', tusSeconds);
    record('tus-client-cpu', tusAfter.user + tusAfter.system - tusBefore.user - tusBefore.system);
    record('tus-server-cpu', await cpuSince(tus, tusStart));
    // What a user would build for the same guarantees from tus: md5sum first, upload, md5sum of what was stored.
    const md5Before = (await timed('md5sum', [file])).seconds;
    const md5After = (await timed('md5sum', [await largestFile(tus.dir)])).seconds;
    record('tus-md5', md5Before + tusSeconds + md5After);
    record('tus-rss', await stopService(tus));
    const bare = await startService([join(here, 'bare-socketio.js'), 'server', join(await fresh('bare'), 'out.bin')]);
    const { stdout } = await timed(process.execPath, [join(here, 'bare-socketio.js'), 'client', bare.url, file, String(FRAME), String(IN_FLIGHT / FRAME)]);
    record('bare', (JSON.parse(stdout) as { seconds: number }).seconds);
    await stopService(bare);
  }
  await rm(file);
}

// Many small files.
async function smallFiles() {
  const dir = await fresh('small-src');
  const files: string[] = [];
  for (let i = 0; i < SMALL; i++) files.push(await randomFileOfSize(dir, 1 / 64, `f${i}.bin`)); // 16 KiB each
  for (let run = 1; run <= RUNS; run++) {
    log(`[${SMALL} x 16 KiB] run ${run}/${RUNS}`);
    for (const fsync of ['off', 'on'] as const) {
      const server = await upwireServer(fsync);
      record(`small-upwire-${fsync}`, SMALL / (await upwireUpload(server.url, files, ['--parallel', '8'])).seconds);
      await stopService(server);
    }
    const tus = await tusServer();
    record('small-tus', SMALL / (await tusUpload(tus.url, files, 8)).seconds);
    await stopService(tus);
  }
}

// 16 concurrent uploads of 64 MiB over one connection (upwire --parallel) against 16 tus uploads.
async function concurrent() {
  const dir = await fresh('concurrent-src');
  const files: string[] = [];
  for (let i = 0; i < 16; i++) files.push(await randomFileOfSize(dir, 64, `c${i}.bin`));
  for (let run = 1; run <= RUNS; run++) {
    log(`[16 x 64 MiB] run ${run}/${RUNS}`);
    const server = await upwireServer('off');
    record('conc-upwire', (16 * 64) / (await upwireUpload(server.url, files, ['--parallel', '16'])).seconds);
    record('conc-upwire-rss', await stopService(server));
    const tus = await tusServer();
    record('conc-tus', (16 * 64) / (await tusUpload(tus.url, files, 16)).seconds);
    record('conc-tus-rss', await stopService(tus));
  }
}

// Peak server RSS for a large file (one run: memory, not time).
async function largeFile() {
  log(`[${LARGE} MiB] peak RSS`);
  const file = await randomFileOfSize(root.path, LARGE);
  const server = await upwireServer('off');
  await upwireUpload(server.url, [file]);
  record('large-upwire-rss', await stopService(server));
  const tus = await tusServer();
  await tusUpload(tus.url, [file], 1);
  record('large-tus-rss', await stopService(tus));
  await rm(file);
}

const started = Date.now();
try {
  if (SECTIONS.has('large')) await oneLargeFile();
  if (SECTIONS.has('links')) await shapedLinks(record, log, fresh, Number(values['link-runs']));
  if (SECTIONS.has('crowd')) await crowds(record, log, fresh, [100, 300], Number(values['crowd-runs']));
  if (SECTIONS.has('crowd-fixed')) await fixedWindowCrowds(record, log, fresh, [100, 300], Number(values['crowd-runs']));
  if (SECTIONS.has('small')) await smallFiles();
  if (SECTIONS.has('concurrent')) await concurrent();
  if (SECTIONS.has('rss')) await largeFile();
  if (SECTIONS.has('s3')) await s3Uploads(record, log, fresh, SIZE, RUNS);
  if (SECTIONS.has('browser')) {
    const b = await benchBrowserHash(SIZE, 3);
    record('browser-spark', b.sparkMiBps);
    record('browser-wasm', b.wasmMiBps);
  }
  if (SECTIONS.has('browser-upload')) await browserUpload(record, log, fresh, SIZE, RUNS, values.baseline);
} finally {
  await root.remove();
}

const rate = (seconds: number) => `${(SIZE / seconds).toFixed(0)} MiB/s`;
const s = (key: string) => `${med(key).toFixed(2)} s`;
const x = (a: string, b: string) => `${(med(a) / med(b)).toFixed(2)}x`;
const has = (key: string) => samples.has(key);
const rows: [string, string, string, string][] = [];
if (has('upwire-off')) {
  rows.push(
    [`end to end ${SIZE} MiB, FSYNC=off`, `${s('upwire-off')} (${rate(med('upwire-off'))})`, `tus ${s('tus')} (${rate(med('tus'))})`, x('upwire-off', 'tus')],
    [`end to end ${SIZE} MiB, FSYNC=on`, `${s('upwire-on')} (${rate(med('upwire-on'))})`, `tus ${s('tus')}`, x('upwire-on', 'tus')],
  );
  if (has('baseline-off')) rows.push([`end to end ${SIZE} MiB, FSYNC=off, against the baseline build`, s('upwire-off'), `baseline ${s('baseline-off')}`, x('upwire-off', 'baseline-off')]);
  const perGiB = (key: string) => `${((med(key) * 1024) / SIZE).toFixed(2)} s/GiB`;
  rows.push(
    [`end to end ${SIZE} MiB, FSYNC=off, against what a user would build from tus`, s('upwire-off'), `md5sum + tus + md5sum of the stored file ${s('tus-md5')}`, x('upwire-off', 'tus-md5')],
    [`end to end ${SIZE} MiB, client and server each pinned to a core`, s('pinned'), `unpinned ${s('upwire-off')}`, x('pinned', 'upwire-off')],
    ['server CPU (user + system), FSYNC=off, the SHA-256 record included', perGiB('upwire-off-server-cpu'), `tus ${perGiB('tus-server-cpu')}`, x('upwire-off-server-cpu', 'tus-server-cpu')],
    ['server CPU until the answer (SHA256=background: the record follows)', perGiB('upwire-off-server-cpu-answer'), `record written ${s('upwire-off-sha256-after')} after the answer`, ''],
    ['client CPU (user + system), hash included', perGiB('upwire-off-client-cpu'), `tus ${perGiB('tus-client-cpu')}`, x('upwire-off-client-cpu', 'tus-client-cpu')],
    ['server / client CPU, pinned', `${perGiB('pinned-server-cpu')} / ${perGiB('pinned-client-cpu')}`, '', ''],
    [`resume of an interrupted ${SIZE} MiB upload with the hash cache: start to first frame`, s('cache-resume-first-frame'), `without the cache: a hash pass, ${s('upwire-off-hash')}`, ''],
    [`instant re-upload of ${SIZE} MiB with the hash cache (the call)`, s('cache-instant'), `without: ${s('instant-inproc')}`, x('cache-instant', 'instant-inproc')],
    ['hash phase', s('upwire-off-hash'), `md5sum ${s('md5sum')}`, x('upwire-off-hash', 'md5sum')],
    ['transfer phase, FSYNC=off', s('upwire-off-transfer'), `bare socket.io ${s('bare')}`, x('upwire-off-transfer', 'bare')],
    ['transfer phase, FSYNC=on', s('upwire-on-transfer'), `bare socket.io ${s('bare')}`, x('upwire-on-transfer', 'bare')],
    [`end to end ${SIZE} MiB with a watcher that never reads`, s('stalled-watcher'), `no watcher ${s('upwire-off')}`, x('stalled-watcher', 'upwire-off')],
    [`other connections during a ${SIZE} MiB upload: status round trip`, `p50 ${med('probe-p50').toFixed(1)} ms, p99 ${med('probe-p99').toFixed(1)} ms`, `max ${med('probe-max').toFixed(1)} ms`, ''],
    [`instant re-upload ${SIZE} MiB (CLI wall)`, s('instant'), `md5sum ${s('md5sum')}`, x('instant', 'md5sum')],
    ['instant re-upload (in process)', s('instant-inproc'), `md5sum ${s('md5sum')}`, x('instant-inproc', 'md5sum')],
    [`server peak RSS, ${SIZE} MiB`, `${med('upwire-off-rss').toFixed(0)} MiB`, `tus ${med('tus-rss').toFixed(0)} MiB`, x('upwire-off-rss', 'tus-rss')],
  );
  if (has('baseline-off-rss')) rows.push([`server peak RSS, ${SIZE} MiB, against the baseline build`, `${med('upwire-off-rss').toFixed(0)} MiB`, `baseline ${med('baseline-off-rss').toFixed(0)} MiB`, x('upwire-off-rss', 'baseline-off-rss')]);
}
for (const { rate: link, mib, bitsPerSecond } of LINKS) {
  if (!has(`link-${link}-upwire`)) continue;
  const limit = (mib * 1024 * 1024 * 8) / bitsPerSecond;
  rows.push(
    [`${mib} MiB over a ${link} uplink (limit ${limit.toFixed(1)} s)`, `${s(`link-${link}-upwire`)}, ${med(`link-${link}-upwire-retries`)} retries`, `tus ${s(`link-${link}-tus`)}`, x(`link-${link}-upwire`, `link-${link}-tus`)],
    [`status round trip on the uploading connection, ${link}`, `p50 ${med(`link-${link}-status-p50`).toFixed(0)} ms`, `max ${med(`link-${link}-status-max`).toFixed(0)} ms`, ''],
  );
}
for (const count of [100, 300]) {
  if (!has(`crowd-${count}-upwire`)) continue;
  rows.push(
    [`${count} clients x 16 MiB at once: wall`, `${s(`crowd-${count}-upwire`)}, ${med(`crowd-${count}-upwire-failures`)} failed`, `tus ${s(`crowd-${count}-tus`)}, ${med(`crowd-${count}-tus-failures`)} failed`, x(`crowd-${count}-upwire`, `crowd-${count}-tus`)],
    [`${count} clients x 16 MiB at once: server peak RSS`, `${med(`crowd-${count}-upwire-rss`).toFixed(0)} MiB`, `tus ${med(`crowd-${count}-tus-rss`).toFixed(0)} MiB`, x(`crowd-${count}-upwire-rss`, `crowd-${count}-tus-rss`)],
  );
}
for (const count of [100, 300]) {
  if (!has(`fixed-${count}-upwire`)) continue;
  const what = `${count} clients x 16 MiB, fixed window of 4 x 1 MiB`;
  rows.push(
    [`${what}: wall`, `${s(`fixed-${count}-upwire`)}, ${med(`fixed-${count}-upwire-failures`)} failed, ${med(`fixed-${count}-upwire-busy`)} E_BUSY, ${med(`fixed-${count}-upwire-resent`)} frames sent again`, `tus ${s(`fixed-${count}-tus`)}, ${med(`fixed-${count}-tus-failures`)} failed`, x(`fixed-${count}-upwire`, `fixed-${count}-tus`)],
    [`${what}: server peak RSS`, `${med(`fixed-${count}-upwire-rss`).toFixed(0)} MiB (frame bytes held at most ${med(`fixed-${count}-upwire-held`).toFixed(0)} MiB)`, `tus ${med(`fixed-${count}-tus-rss`).toFixed(0)} MiB`, x(`fixed-${count}-upwire-rss`, `fixed-${count}-tus-rss`)],
  );
}
if (has('small-upwire-off')) {
  rows.push(
    [`${SMALL} files of 16 KiB, FSYNC=off`, `${med('small-upwire-off').toFixed(0)} files/s`, `tus ${med('small-tus').toFixed(0)} files/s`, x('small-upwire-off', 'small-tus')],
    [`${SMALL} files of 16 KiB, FSYNC=on`, `${med('small-upwire-on').toFixed(0)} files/s`, `tus ${med('small-tus').toFixed(0)} files/s`, x('small-upwire-on', 'small-tus')],
  );
}
if (has('conc-upwire')) {
  rows.push(
    ['16 concurrent x 64 MiB', `${med('conc-upwire').toFixed(0)} MiB/s`, `tus ${med('conc-tus').toFixed(0)} MiB/s`, x('conc-upwire', 'conc-tus')],
    ['server peak RSS, 16 concurrent', `${med('conc-upwire-rss').toFixed(0)} MiB`, `tus ${med('conc-tus-rss').toFixed(0)} MiB`, x('conc-upwire-rss', 'conc-tus-rss')],
  );
}
if (has('large-upwire-rss')) rows.push([`server peak RSS, ${LARGE} MiB`, `${med('large-upwire-rss').toFixed(0)} MiB`, `tus ${med('large-tus-rss').toFixed(0)} MiB`, x('large-upwire-rss', 'large-tus-rss')]);
rows.push(...s3Rows(med, has, SIZE));
if (has('browser-wasm')) {
  rows.push([`browser MD5 (Chromium, ${SIZE} MiB)`, `hash-wasm ${med('browser-wasm').toFixed(0)} MiB/s`, `spark-md5 ${med('browser-spark').toFixed(0)} MiB/s`, x('browser-wasm', 'browser-spark')]);
}
rows.push(...browserUploadRows(samples, SIZE));
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; loopback unless a link is named; medians of ${RUNS} interleaved runs ` +
  `(shaped links ${values['link-runs']}, crowds ${values['crowd-runs']}, RSS at ${LARGE} MiB: one run). Chunks 4 MiB, sent as frames of up to 1 MiB, at most 16 MiB in flight.`,
  '',
  '| what | upwire | compared with | ratio |',
  '|---|---|---|---|',
  ...rows.map((r) => `| ${r.join(' | ')} |`),
].join('\n');
console.log(table);
const out = new URL('results/', import.meta.url).pathname.replace('/dist/bench/', '/bench/');
await mkdir(out, { recursive: true });
const name = ALL_SECTIONS.every((s) => SECTIONS.has(s)) ? 'latest' : [...SECTIONS].join('+');
await writeFile(join(out, `${name}.json`), JSON.stringify({ date: new Date().toISOString(), machine, runs: RUNS, samples: Object.fromEntries(samples) }, null, 2));
await writeFile(join(out, `${name}.md`), `${table}\n`);
log(`bench took ${((Date.now() - started) / 1000).toFixed(0)} s; results in bench/results/`);
