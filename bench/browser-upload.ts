/*
 * The page's upload against tus-js-client's, in the same Chromium build, the same run (section
 * browser-upload): a file of `sizeMiB` picked through an <input type=file> is uploaded by
 * upwire's browser client (the package's browser build, as a page bundles it) to an upwire server,
 * and by tus-js-client's browser build to @tus/server; on loopback the CLI uploads it too. Then
 * the same over a 1 Gbit/s link (a network namespace with `tc tbf rate 1gbit`, Chromium inside,
 * the servers outside; as root). Each upload gets a fresh server and a fresh Chromium. Recorded per
 * upload: rates, the CPU of the server and of every Chromium thread (chromium-cpu.ts), and at the
 * end a sampled CPU profile of one upwire page (its main thread) in test-artifacts/.
 * With `baseline` (another upwire checkout, built), its browser client uploads from the page too.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ARTIFACTS } from '../test/support/browser.js';
import { browserClientScript } from '../test/support/browser-client.js';
import { createShapedLink, shapedLinksUnavailable } from '../test/support/netns.js';
import { cpuBetween, readCpu, ROLES, type Role } from './chromium-cpu.js';
import { launchPipeChromium, type PipePage } from './chromium-pipe.js';
import { childrenCpu, cpuOf, startService, startUpwire, stopService, timed, type Service } from './procs.js';
import { summarizeProfile, type CpuProfile } from './profile-summary.js';
import { median as medianOf, randomFileOfSize } from './util.js';

const here = new URL('.', import.meta.url).pathname;
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
type Record = (key: string, value: number) => void;
type Client = 'upwire' | 'baseline' | 'tus';

/** What one page upload measured: seconds in all, and for upwire the hash and transfer phases. */
interface PageResult { seconds: number; hashSeconds?: number; transferSeconds?: number }

/** Where Chromium and the servers run: loopback, or Chromium in a namespace behind a shaped veth. */
interface Place { name: string; host: string; prefix: string[] }

async function bundle(entry: string, globalName: string): Promise<string> {
  const out = await build({ entryPoints: [entry], bundle: true, write: false, format: 'iife', globalName, platform: 'browser', logLevel: 'silent' });
  return out.outputFiles[0]!.text;
}

async function tusClientScript(): Promise<string> {
  // The package's `browser` field maps its entry to lib.esm/browser (XHR, Blob slices).
  const out = await build({ stdin: { contents: "export { Upload } from 'tus-js-client';", resolveDir: here }, bundle: true, write: false, format: 'iife', globalName: 'tusClient', platform: 'browser', logLevel: 'silent' });
  return out.outputFiles[0]!.text;
}

const UPWIRE_UPLOAD = `(async () => {
  const file = document.querySelector('#bench-file').files[0];
  const started = performance.now();
  const uploader = await window.upwireClient.createUploader(file, { url: location.origin, hashCache: false });
  const result = await uploader.start();
  return { seconds: (performance.now() - started) / 1000, hashSeconds: result.hashSeconds, transferSeconds: result.transferSeconds };
})()`;

const TUS_UPLOAD = (endpoint: string) => `(async () => {
  const file = document.querySelector('#bench-file').files[0];
  const started = performance.now();
  await new Promise((resolve, reject) => new window.tusClient.Upload(file, {
    endpoint: ${JSON.stringify(endpoint)}, metadata: { filename: file.name }, storeFingerprintForResuming: false,
    onSuccess: resolve, onError: reject,
  }).start());
  return { seconds: (performance.now() - started) / 1000 };
})()`;

/** One upload from a fresh Chromium's page at `pageUrl`; its CPU by thread role, and optionally a CPU profile of the page. */
async function pageUpload(place: Place, pageUrl: string, script: string, upload: string, file: string, profile?: string) {
  const browser = await launchPipeChromium(place.prefix);
  try {
    const page: PipePage = await browser.newPage(pageUrl);
    await page.evaluate(`${script}; document.body.insertAdjacentHTML('beforeend', '<input type="file" id="bench-file">')`);
    await page.pickFile('#bench-file', file);
    if (profile) {
      await page.send('Profiler.enable');
      await page.send('Profiler.setSamplingInterval', { interval: 500 });
      await page.send('Profiler.start');
    }
    const before = await readCpu(browser.child.pid!);
    const result = await page.evaluate<PageResult>(upload);
    const cpu = cpuBetween(before, await readCpu(browser.child.pid!));
    const cpuProfile = profile ? ((await page.send('Profiler.stop')) as { profile: CpuProfile }).profile : undefined;
    return { result, cpu, cpuProfile };
  } finally {
    await browser.close();
  }
}

export async function browserUpload(record: Record, log: (text: string) => void, dir: (name: string) => Promise<string>, sizeMiB: number, runs: number, baseline?: string): Promise<void> {
  const file = await randomFileOfSize(await dir('browser-upload-src'), sizeMiB);
  const scripts: { [client in Client]?: string } = { upwire: await browserClientScript(), tus: await tusClientScript() };
  if (baseline) scripts.baseline = await bundle(join(baseline, 'dist/src/client/browser.js'), 'upwireClient');
  const clients = Object.keys(scripts) as Client[];
  const places: Place[] = [{ name: 'loopback', host: '127.0.0.1', prefix: [] }];
  const why = await shapedLinksUnavailable();
  if (why) log(`browser-upload over 1gbit skipped: ${why}`);

  const server = async (client: Client, host: string): Promise<Service> => {
    const data = await dir(`browser-upload-${client}`);
    return client === 'tus'
      ? startService([join(here, 'tus-server.js'), data, host])
      : startUpwire(['--host', host, '--port', '0', '--upload-dir', join(data, 'u'), '--db-dir', join(data, 'db'), '--fsync', 'off', '--log-level', 'warn']);
  };

  const one = async (place: Place, client: Client, run: number, profile?: string) => {
    const service = await server(client, place.host);
    try {
      const serverBefore = await cpuOf(service.child.pid!);
      const origin = new URL(service.url).origin;
      const pageUrl = client === 'tus' ? service.url : `${origin}/healthz`;
      const upload = client === 'tus' ? TUS_UPLOAD(service.url) : UPWIRE_UPLOAD;
      const { result, cpu, cpuProfile } = await pageUpload(place, pageUrl, scripts[client]!, upload, file, profile);
      const serverAfter = await cpuOf(service.child.pid!);
      if (profile && cpuProfile) {
        await writeFile(profile, JSON.stringify(cpuProfile));
        log(`  profile of the ${client} page (main thread), ${place.name}: ${profile}\n${summarizeProfile(cpuProfile)}`);
        return;
      }
      const key = `bu-${place.name}-${client}`;
      const transfer = result.transferSeconds ?? result.seconds;
      record(`${key}`, sizeMiB / transfer);
      record(`${key}-e2e`, sizeMiB / result.seconds);
      if (result.hashSeconds !== undefined) record(`${key}-hash`, result.hashSeconds);
      record(`${key}-server-cpu`, serverAfter.user + serverAfter.system - serverBefore.user - serverBefore.system);
      for (const role of ROLES) record(`${key}-cpu-${role}`, cpu[role]);
      record(`${key}-browser-cpu`, ROLES.reduce((sum, role: Role) => sum + cpu[role], 0));
      log(`  ${place.name} ${client} run ${run}: ${(sizeMiB / transfer).toFixed(0)} MiB/s sending, ${(sizeMiB / result.seconds).toFixed(0)} MiB/s end to end`);
    } finally {
      await stopService(service);
    }
  };

  const cli = async (run: number) => {
    const service = await server('upwire', '127.0.0.1');
    try {
      const before = await childrenCpu();
      const serverBefore = await cpuOf(service.child.pid!);
      const { stdout } = await timed(process.execPath, [CLI, 'upload', file, '--url', service.url, '--no-hash-cache']);
      const serverAfter = await cpuOf(service.child.pid!);
      const after = await childrenCpu();
      const { hashSeconds, transferSeconds } = JSON.parse(stdout.trim().split('\n')[0]!) as { hashSeconds: number; transferSeconds: number };
      record('bu-loopback-cli', sizeMiB / transferSeconds);
      record('bu-loopback-cli-e2e', sizeMiB / (hashSeconds + transferSeconds));
      record('bu-loopback-cli-client-cpu', after.user + after.system - before.user - before.system);
      record('bu-loopback-cli-server-cpu', serverAfter.user + serverAfter.system - serverBefore.user - serverBefore.system);
      log(`  loopback CLI run ${run}: ${(sizeMiB / transferSeconds).toFixed(0)} MiB/s sending`);
    } finally {
      await stopService(service);
    }
  };

  for (const place of why ? places : [...places, { name: '1gbit', host: '', prefix: [] }]) {
    for (let run = 1; run <= runs; run++) {
      log(`[${sizeMiB} MiB from the page, ${place.name}] run ${run}/${runs}`);
      // A link of its own for each run, removed after it (the namespace goes with the Chromium in it).
      const link = place.name === 'loopback' ? undefined : await createShapedLink('1gbit', { burst: '256kb', latency: '20ms' });
      const at = link ? { ...place, host: link.hostAddress, prefix: ['ip', 'netns', 'exec', link.namespace] } : place;
      try {
        for (const client of clients) await one(at, client, run);
        if (!link) await cli(run);
      } finally {
        await link?.remove();
      }
    }
  }
  // Not timed: where the page's main thread spends an upload, sampled every 0.5 ms.
  await mkdir(ARTIFACTS, { recursive: true });
  for (const client of clients.filter((c) => c !== 'tus')) await one(places[0]!, client, 0, join(ARTIFACTS, `browser-upload-${client}.cpuprofile`));
}

/** Median and range of a key's samples, and the rows of the results table for this section. */
export function browserUploadRows(samples: Map<string, number[]>, sizeMiB: number): [string, string, string, string][] {
  const values = (key: string) => samples.get(key) ?? [];
  const median = (key: string) => (values(key).length > 0 ? medianOf(values(key)) : NaN);
  const range = (key: string, digits = 0) => `${Math.min(...values(key)).toFixed(digits)}-${Math.max(...values(key)).toFixed(digits)}`;
  /** Per-run ratios a/b (the runs of a and b were side by side): their median and range. */
  const ratios = (a: string, b: string) => {
    const r = values(a).map((v, i) => v / values(b)[i]!).sort((x, y) => x - y);
    return `${(r.length > 0 ? medianOf(r) : NaN).toFixed(2)}x (${r[0]?.toFixed(2)}-${r.at(-1)?.toFixed(2)})`;
  };
  const rate = (key: string) => `${median(key).toFixed(0)} MiB/s (${range(key)})`;
  const perGiB = (key: string) => `${((median(key) * 1024) / sizeMiB).toFixed(2)} s/GiB`;
  const rows: [string, string, string, string][] = [];
  for (const place of ['loopback', '1gbit']) {
    const k = (client: string, what = '') => `bu-${place}-${client}${what}`;
    if (!samples.has(k('upwire'))) continue;
    rows.push(
      [`${sizeMiB} MiB picked in Chromium's page, ${place}: sending`, rate(k('upwire')), `tus-js-client ${rate(k('tus'))}`, ratios(k('upwire'), k('tus'))],
      [`the same, end to end (upwire hashes first)`, rate(k('upwire', '-e2e')), `tus-js-client ${rate(k('tus', '-e2e'))}`, ratios(k('upwire', '-e2e'), k('tus', '-e2e'))],
      [`the same: Chromium CPU (all its processes)`, perGiB(k('upwire', '-browser-cpu')), `tus-js-client ${perGiB(k('tus', '-browser-cpu'))}`, ratios(k('upwire', '-browser-cpu'), k('tus', '-browser-cpu'))],
      [`the same: server CPU`, perGiB(k('upwire', '-server-cpu')), `@tus/server ${perGiB(k('tus', '-server-cpu'))}`, ratios(k('upwire', '-server-cpu'), k('tus', '-server-cpu'))],
    );
    for (const client of ['upwire', 'tus', 'baseline'].filter((c) => samples.has(k(c)))) {
      rows.push([`the same: ${client}'s Chromium CPU by thread`, ROLES.map((role) => `${role} ${perGiB(k(client, `-cpu-${role}`))}`).join(', '), '', '']);
    }
    if (samples.has(k('baseline'))) rows.push([`the same, sending: this build against the baseline`, rate(k('upwire')), `baseline ${rate(k('baseline'))}`, ratios(k('upwire'), k('baseline'))]);
    if (place === 'loopback' && samples.has(k('cli'))) rows.push([`the page against the CLI, sending, loopback`, rate(k('upwire')), `CLI ${rate(k('cli'))}`, ratios(k('upwire'), k('cli'))]);
  }
  return rows;
}
