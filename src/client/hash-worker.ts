/// <reference lib="webworker" />
/*
 * MD5 of a Blob off the main thread, so the page never freezes on a 10 GiB file. It reads slice
 * i+1 while hashing slice i. 'wasm' is hash-wasm's WebAssembly MD5; 'spark' is spark-md5 in plain
 * JavaScript, used where WebAssembly is unavailable (a CSP without 'wasm-unsafe-eval', say).
 */
import { createMD5 } from 'hash-wasm';
import SparkMD5 from 'spark-md5';
import type { HashRequest, HashResponse } from './hash-messages.js';

interface IncrementalMd5 { update(data: Uint8Array): void; digest(): string }

async function incremental(algorithm: HashRequest['algorithm']): Promise<{ md5: IncrementalMd5; algorithm: 'wasm' | 'spark' }> {
  if (algorithm !== 'spark') {
    try {
      const wasm = await createMD5();
      return { md5: { update: (d) => wasm.update(d), digest: () => wasm.digest('hex') }, algorithm: 'wasm' };
    } catch (err) {
      if (algorithm === 'wasm') throw err;
    }
  }
  const spark = new SparkMD5.ArrayBuffer();
  return { md5: { update: (d) => spark.append(d.buffer as ArrayBuffer), digest: () => spark.end() }, algorithm: 'spark' };
}

const scope = self as unknown as DedicatedWorkerGlobalScope;
const reply = (message: HashResponse) => scope.postMessage(message);

scope.onmessage = async ({ data }: MessageEvent<HashRequest>) => {
  try {
    const { blob, sliceSize } = data;
    const { md5, algorithm } = await incremental(data.algorithm);
    const read = (offset: number) => blob.slice(offset, Math.min(blob.size, offset + sliceSize)).arrayBuffer();
    let pending = blob.size > 0 ? read(0) : undefined;
    for (let offset = 0; pending; ) {
      const slice = await pending;
      offset += slice.byteLength;
      pending = offset < blob.size ? read(offset) : undefined;
      md5.update(new Uint8Array(slice));
      reply({ type: 'progress', bytes: offset });
    }
    reply({ type: 'done', md5: md5.digest(), algorithm });
  } catch (err) {
    reply({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
