/*
 * npm run bench [-- --runs 5 --size-mib 1024 --large-mib 4096 --small-files 2000]
 * Every comparison is measured in the same run, interleaved, on this machine over loopback; the
 * table shows medians. Results go to bench/results/latest.json and latest.md.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { tempDir } from '../test/support/fixtures.js';
import { CLI } from '../test/support/server.js';
import { benchBrowserHash } from './browser-hash.js';
import { latencyProbe, stalledWatcher } from './probes.js';
import { startService, stopService, timed } from './procs.js';
import { median, randomFileOfSize } from './util.js';

const here = new URL('.', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'size-mib': { type: 'string', default: '1024' },
    'large-mib': { type: 'string', default: '4096' },
    'small-files': { type: 'string', default: '2000' },
    'no-browser': { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const SIZE = Number(values['size-mib']);
const LARGE = Number(values['large-mib']);
const SMALL = Number(values['small-files']);
const CHUNK = 4 * 1024 * 1024;
const WINDOW = 4;

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

async function upwireServer(fsync: 'on' | 'off') {
  const dir = await fresh(`upwire-${fsync}`);
  return startService([CLI, 'serve', '--port', '0', '--upload-dir', join(dir, 'uploads'), '--db-dir', join(dir, 'db'), '--fsync', fsync]);
}

async function upwireUpload(url: string, files: string[], extra: string[] = []) {
  const { seconds, stdout } = await timed(process.execPath, [CLI, 'upload', ...files, '--url', url, ...extra]);
  const results = stdout.trim().split('\n').map((l) => JSON.parse(l) as { hashSeconds: number; transferSeconds: number; instant: boolean });
  return { seconds, results };
}

async function tusServer() {
  const dir = await fresh('tus');
  return startService([join(here, 'tus-server.js'), dir]);
}

async function tusUpload(endpoint: string, files: string[], parallel: number) {
  return timed(process.execPath, [join(here, 'tus-client.js'), endpoint, String(parallel), ...files]);
}

function log(text: string) {
  process.stderr.write(`${text}\n`);
}

// 1-4 and 7 (1 GiB): end to end, phases, instant re-upload, peak RSS.
async function oneLargeFile() {
  const file = await randomFileOfSize(root.path, SIZE);
  for (let run = 1; run <= RUNS; run++) {
    log(`[${SIZE} MiB] run ${run}/${RUNS}`);
    record('md5sum', (await timed('md5sum', [file])).seconds);
    for (const fsync of ['off', 'on'] as const) {
      const server = await upwireServer(fsync);
      const probe = fsync === 'off' ? await latencyProbe(server.url) : undefined;
      const { seconds, results } = await upwireUpload(server.url, [file]);
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
        const again = await upwireUpload(server.url, [file]);
        if (!again.results[0]!.instant) throw new Error('the re-upload was not instant');
        record('instant', again.seconds);
        record('instant-inproc', again.results[0]!.hashSeconds + again.results[0]!.transferSeconds);
      }
      if (fsync === 'off') {
        // the same upload again (a fresh server) with a watcher that never reads
        const watched = await upwireServer('off');
        const stalled = await stalledWatcher(watched.url);
        record('stalled-watcher', (await upwireUpload(watched.url, [file])).seconds);
        stalled.close();
        await stopService(watched);
      }
      record(`upwire-${fsync}-rss`, await stopService(server));
    }
    const tus = await tusServer();
    record('tus', (await tusUpload(tus.url, [file], 1)).seconds);
    record('tus-rss', await stopService(tus));
    const bare = await startService([join(here, 'bare-socketio.js'), 'server', join(await fresh('bare'), 'out.bin')]);
    const { stdout } = await timed(process.execPath, [join(here, 'bare-socketio.js'), 'client', bare.url, file, String(CHUNK), String(WINDOW)]);
    record('bare', (JSON.parse(stdout) as { seconds: number }).seconds);
    await stopService(bare);
  }
  await rm(file);
}

// 5: many small files.
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

// 6: 16 concurrent uploads of 64 MiB.
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

// 7: peak server RSS for a large file (one run: memory, not time).
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
  await oneLargeFile();
  await smallFiles();
  await concurrent();
  await largeFile();
  if (!values['no-browser']) {
    const b = await benchBrowserHash(SIZE, 3);
    record('browser-spark', b.sparkMiBps);
    record('browser-wasm', b.wasmMiBps);
  }
} finally {
  await root.remove();
}

const rate = (seconds: number) => `${(SIZE / seconds).toFixed(0)} MiB/s`;
const s = (key: string) => `${med(key).toFixed(2)} s`;
const x = (a: string, b: string) => `${(med(a) / med(b)).toFixed(2)}x`;
const rows: [string, string, string, string][] = [
  [`end to end ${SIZE} MiB, FSYNC=off`, `${s('upwire-off')} (${rate(med('upwire-off'))})`, `tus ${s('tus')} (${rate(med('tus'))})`, x('upwire-off', 'tus')],
  [`end to end ${SIZE} MiB, FSYNC=on`, `${s('upwire-on')} (${rate(med('upwire-on'))})`, `tus ${s('tus')}`, x('upwire-on', 'tus')],
  ['hash phase', s('upwire-off-hash'), `md5sum ${s('md5sum')}`, x('upwire-off-hash', 'md5sum')],
  ['transfer phase, FSYNC=off', s('upwire-off-transfer'), `bare socket.io ${s('bare')}`, x('upwire-off-transfer', 'bare')],
  ['transfer phase, FSYNC=on', s('upwire-on-transfer'), `bare socket.io ${s('bare')}`, x('upwire-on-transfer', 'bare')],
  [`end to end ${SIZE} MiB with a watcher that never reads`, s('stalled-watcher'), `no watcher ${s('upwire-off')}`, x('stalled-watcher', 'upwire-off')],
  [`other connections during a ${SIZE} MiB upload: status round trip`, `p50 ${med('probe-p50').toFixed(1)} ms, p99 ${med('probe-p99').toFixed(1)} ms`, `max ${med('probe-max').toFixed(1)} ms`, ''],
  [`instant re-upload ${SIZE} MiB (CLI wall)`, s('instant'), `md5sum ${s('md5sum')}`, x('instant', 'md5sum')],
  ['instant re-upload (in process)', s('instant-inproc'), `md5sum ${s('md5sum')}`, x('instant-inproc', 'md5sum')],
  [`${SMALL} files of 16 KiB, FSYNC=off`, `${med('small-upwire-off').toFixed(0)} files/s`, `tus ${med('small-tus').toFixed(0)} files/s`, x('small-upwire-off', 'small-tus')],
  [`${SMALL} files of 16 KiB, FSYNC=on`, `${med('small-upwire-on').toFixed(0)} files/s`, `tus ${med('small-tus').toFixed(0)} files/s`, x('small-upwire-on', 'small-tus')],
  ['16 concurrent x 64 MiB', `${med('conc-upwire').toFixed(0)} MiB/s`, `tus ${med('conc-tus').toFixed(0)} MiB/s`, x('conc-upwire', 'conc-tus')],
  ['server peak RSS, 16 concurrent', `${med('conc-upwire-rss').toFixed(0)} MiB`, `tus ${med('conc-tus-rss').toFixed(0)} MiB`, x('conc-upwire-rss', 'conc-tus-rss')],
  [`server peak RSS, ${SIZE} MiB`, `${med('upwire-off-rss').toFixed(0)} MiB`, `tus ${med('tus-rss').toFixed(0)} MiB`, x('upwire-off-rss', 'tus-rss')],
  [`server peak RSS, ${LARGE} MiB`, `${med('large-upwire-rss').toFixed(0)} MiB`, `tus ${med('large-tus-rss').toFixed(0)} MiB`, x('large-upwire-rss', 'large-tus-rss')],
];
if (samples.has('browser-wasm')) {
  rows.push([`browser MD5 (Chromium, ${SIZE} MiB)`, `hash-wasm ${med('browser-wasm').toFixed(0)} MiB/s`, `spark-md5 ${med('browser-spark').toFixed(0)} MiB/s`, x('browser-wasm', 'browser-spark')]);
}
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, loopback`;
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; medians of ${RUNS} interleaved runs (RSS at ${LARGE} MiB: one run). Chunks 4 MiB, window ${WINDOW}.`,
  '',
  '| what | upwire | compared with | ratio |',
  '|---|---|---|---|',
  ...rows.map((r) => `| ${r.join(' | ')} |`),
].join('\n');
console.log(table);
const out = new URL('results/', import.meta.url).pathname.replace('/dist/bench/', '/bench/');
await mkdir(out, { recursive: true });
await writeFile(join(out, 'latest.json'), JSON.stringify({ date: new Date().toISOString(), machine, runs: RUNS, samples: Object.fromEntries(samples) }, null, 2));
await writeFile(join(out, 'latest.md'), `${table}\n`);
log(`bench took ${((Date.now() - started) / 1000).toFixed(0)} s; results in bench/results/`);
