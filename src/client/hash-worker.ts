/// <reference lib="webworker" />
/*
 * MD5 of a Blob off the main thread, so the page never freezes on a 10 GiB file. It reads the file
 * in order through one stream (blob-reader.ts: a slice read per step costs the browser far more), into
 * one reused buffer; the stream keeps reading ahead while a slice is hashed. 'wasm' is hash-wasm's
 * WebAssembly MD5; 'spark' is spark-md5 in plain JavaScript, used where WebAssembly is unavailable
 * (a CSP without 'wasm-unsafe-eval', say).
 */
import { createMD5 } from 'hash-wasm';
import SparkMD5 from 'spark-md5';
import { BlobReader } from './blob-reader.js';
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
  // spark-md5 takes an ArrayBuffer: exactly the view's bytes (a read may fill only part of the buffer).
  const own = (d: Uint8Array) => (d.byteOffset === 0 && d.byteLength === d.buffer.byteLength ? d.buffer : d.slice().buffer) as ArrayBuffer;
  return { md5: { update: (d) => spark.append(own(d)), digest: () => spark.end() }, algorithm: 'spark' };
}

const scope = self as unknown as DedicatedWorkerGlobalScope;
const reply = (message: HashResponse) => scope.postMessage(message);

scope.onmessage = async ({ data }: MessageEvent<HashRequest>) => {
  try {
    const { blob, sliceSize } = data;
    const { md5, algorithm } = await incremental(data.algorithm);
    const reader = new BlobReader(blob);
    let buffer: Uint8Array = new Uint8Array(Math.min(sliceSize, Math.max(1, blob.size)));
    try {
      for (let offset = 0; offset < blob.size; ) {
        const length = Math.min(buffer.length, blob.size - offset);
        const slice = await reader.read(offset, length, buffer);
        buffer = new Uint8Array(slice.buffer); // a stream read hands the buffer back as a new one
        md5.update(slice);
        offset += length;
        reply({ type: 'progress', bytes: offset });
      }
    } finally {
      await reader.close();
    }
    reply({ type: 'done', md5: md5.digest(), algorithm });
  } catch (err) {
    reply({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
