/*
 * MD5 of a Blob in a Web Worker, started from the worker's code shipped inside the package (a Blob
 * URL), so a page that bundles upwire hosts no worker file and meets no cross-origin rule: a Blob
 * URL has the page's own origin. Where no worker can start (a CSP without blob: in worker-src, a
 * workerUrl that does not load), the MD5 is computed on the main thread instead: slower, but an
 * upload never fails because of where its hashing runs.
 */
import SparkMD5 from 'spark-md5';
import { MiB, UpwireError } from '../protocol/index.js';
import { BlobReader } from './blob-reader.js';
import type { HashAlgorithm, HashRequest, HashResponse } from './hash-messages.js';
import { HASH_WORKER_SOURCE } from './worker-source.js';

export interface Md5Options {
  /** A worker script to start instead of the built-in one (it must be on the page's origin). */
  workerUrl?: string | URL | undefined;
  algorithm?: HashAlgorithm | undefined;
}

/** The worker could not start; nothing was hashed. */
class WorkerUnavailable extends Error {
  override name = 'WorkerUnavailable';
}

const WORKER_SLICE = 4 * MiB;
/** spark-md5 hashes about 1 MiB in a few milliseconds: short enough to keep the page responsive. */
const MAIN_THREAD_SLICE = 1 * MiB;

let builtInUrl: string | undefined;
let warned = false;

/** One Blob URL for the page's life: a few tens of KiB, and revoking it could race a worker still loading it. */
function builtInWorkerUrl(): string {
  builtInUrl ??= URL.createObjectURL(new Blob([HASH_WORKER_SOURCE], { type: 'text/javascript' }));
  return builtInUrl;
}

export async function md5OfBlob(blob: Blob, options: Md5Options, onProgress: (bytes: number) => void, signal: AbortSignal): Promise<string> {
  try {
    return await inWorker(blob, options, onProgress, signal);
  } catch (err) {
    if (!(err instanceof WorkerUnavailable)) throw err;
    if (!warned) {
      warned = true;
      console.warn(`upwire: ${err.message}; hashing on the main thread`);
    }
    return onMainThread(blob, onProgress, signal);
  }
}

function inWorker(blob: Blob, options: Md5Options, onProgress: (bytes: number) => void, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new UpwireError('E_ABORTED'));
    let worker: Worker;
    try {
      worker = new Worker(options.workerUrl ?? builtInWorkerUrl());
    } catch (err) {
      // Chromium refuses a worker that the page's CSP does not allow here, with a SecurityError.
      return reject(new WorkerUnavailable(`cannot start the hash worker (${(err as Error).message})`, { cause: err }));
    }
    let started = false;
    const stop = () => {
      worker.terminate();
      reject(new UpwireError('E_ABORTED'));
    };
    signal.addEventListener('abort', stop, { once: true });
    const finish = () => {
      signal.removeEventListener('abort', stop);
      worker.terminate();
    };
    worker.onmessage = ({ data }: MessageEvent<HashResponse>) => {
      started = true;
      if (data.type === 'progress') return onProgress(data.bytes);
      finish();
      if (data.type === 'done') resolve(data.md5);
      else reject(new UpwireError('E_FILE', `hashing failed: ${data.message}`));
    };
    // The worker answers every request, errors included (hash-worker.ts); an error event before its
    // first answer means its script never ran: not found, not a script, or refused by a CSP.
    worker.onerror = (event) => {
      event.preventDefault();
      finish();
      if (started) reject(new UpwireError('E_FILE', `hashing failed: ${event.message}`));
      else reject(new WorkerUnavailable(`cannot load the hash worker${event.message ? ` (${event.message})` : ''}`));
    };
    worker.postMessage({ blob, sliceSize: WORKER_SLICE, algorithm: options.algorithm ?? 'auto' } satisfies HashRequest);
  });
}

/**
 * spark-md5 on the page's thread, a slice at a time, read in order through one stream (blob-reader.ts).
 * Each read is awaited, which returns to the event loop, so the page paints and handles input between slices.
 */
async function onMainThread(blob: Blob, onProgress: (bytes: number) => void, signal: AbortSignal): Promise<string> {
  const md5 = new SparkMD5.ArrayBuffer();
  const reader = new BlobReader(blob);
  try {
    for (let offset = 0; offset < blob.size; ) {
      if (signal.aborted) throw new UpwireError('E_ABORTED');
      const length = Math.min(MAIN_THREAD_SLICE, blob.size - offset);
      let slice: Uint8Array;
      try {
        slice = await reader.read(offset, length); // a fresh buffer each time: spark-md5 takes a whole ArrayBuffer
      } catch (err) {
        throw new UpwireError('E_FILE', `hashing failed: ${(err as Error).message}`, {}, { cause: err });
      }
      md5.append(slice.buffer as ArrayBuffer);
      offset += length;
      onProgress(offset);
    }
  } finally {
    await reader.close();
  }
  if (signal.aborted) throw new UpwireError('E_ABORTED');
  return md5.end();
}
