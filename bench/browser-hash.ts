/*
 * MD5 throughput in headless Chromium over a real 1 GiB file picked from disk, through the page's
 * own hash worker: spark-md5 (plain JavaScript) against hash-wasm (WebAssembly), interleaved.
 * Usage: node dist/bench/browser-hash.js [sizeMiB=1024] [runs=3]
 */
import { execFileSync } from 'node:child_process';
import { launchChromium } from '../test/support/browser.js';
import { tempDir } from '../test/support/fixtures.js';
import { startTestServer } from '../test/support/server.js';
import { median, randomFileOfSize } from './util.js';

export interface BrowserHashResult { sizeMiB: number; sparkMiBps: number; wasmMiBps: number }

export async function benchBrowserHash(sizeMiB: number, runs: number): Promise<BrowserHashResult> {
  const dir = await tempDir('upwire-bench-');
  const server = await startTestServer();
  const browser = await launchChromium();
  try {
    const path = await randomFileOfSize(dir.path, sizeMiB);
    const expected = execFileSync('md5sum', [path]).toString().slice(0, 32);
    const page = await browser.newPage();
    await page.goto(server.url);
    // A File backed by the file on disk, in an input of its own (the page's picker would upload it).
    await page.evaluate(() => document.body.insertAdjacentHTML('beforeend', '<input type="file" id="bench-file">'));
    await page.setInputFiles('#bench-file', path);
    const seconds: Record<'spark' | 'wasm', number[]> = { spark: [], wasm: [] };
    for (let run = 0; run < runs; run++) {
      for (const algorithm of ['spark', 'wasm'] as const) {
        const { md5, ms } = await page.evaluate(async (algorithm) => {
          const file = document.querySelector<HTMLInputElement>('#bench-file')!.files![0]!;
          const worker = new Worker('/assets/hash-worker.js');
          const started = performance.now();
          const md5 = await new Promise<string>((resolve, reject) => {
            worker.onmessage = ({ data }) => {
              if (data.type === 'done') resolve(data.md5);
              if (data.type === 'error') reject(new Error(data.message));
            };
            worker.postMessage({ blob: file, sliceSize: 4 * 1024 * 1024, algorithm });
          });
          worker.terminate();
          return { md5, ms: performance.now() - started };
        }, algorithm);
        if (md5 !== expected) throw new Error(`${algorithm} md5 ${md5} differs from md5sum ${expected}`);
        seconds[algorithm].push(ms / 1000);
      }
    }
    return { sizeMiB, sparkMiBps: sizeMiB / median(seconds.spark), wasmMiBps: sizeMiB / median(seconds.wasm) };
  } finally {
    await browser.close();
    await server.stop();
    await dir.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [sizeMiB = 1024, runs = 3] = process.argv.slice(2).map(Number);
  const r = await benchBrowserHash(sizeMiB, runs);
  console.log(`browser MD5 over ${r.sizeMiB} MiB (median of ${runs}): spark-md5 ${r.sparkMiBps.toFixed(0)} MiB/s, hash-wasm ${r.wasmMiBps.toFixed(0)} MiB/s (${(r.wasmMiBps / r.sparkMiBps).toFixed(2)}x)`);
}
