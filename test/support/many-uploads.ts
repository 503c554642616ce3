import { createHash, randomBytes } from 'node:crypto';
import { Uploader, type FileSource, type UploadOptions } from '../../src/client/node.js';

/**
 * A file that is not on disk: one shared random base, with the file's number in its last 8 bytes,
 * so each has its own md5 and many of them cost neither disk nor memory.
 */
export class SyntheticSource implements FileSource {
  readonly type = 'application/octet-stream';
  readonly size: number;

  constructor(
    readonly name: string,
    private readonly base: Uint8Array,
    private readonly tail: Uint8Array,
  ) {
    this.size = base.length;
  }

  async read(offset: number, length: number, into = new Uint8Array(length)): Promise<Uint8Array> {
    const out = into.subarray(0, length);
    out.set(this.base.subarray(offset, offset + length));
    const tailStart = this.size - this.tail.length;
    for (let i = Math.max(offset, tailStart); i < offset + length; i++) out[i - offset] = this.tail[i - tailStart]!;
    return out;
  }

  async unchanged(): Promise<boolean> {
    return true;
  }
}

export interface SyntheticFile { source: SyntheticSource; md5: string }

/** `count` distinct files of `size` bytes; their md5s come from one hash of the shared prefix. */
export function syntheticFiles(count: number, size: number): SyntheticFile[] {
  const base = randomBytes(size);
  const prefix = createHash('md5').update(base.subarray(0, size - 8));
  return Array.from({ length: count }, (_, i) => {
    const tail = Buffer.alloc(8);
    tail.writeBigUInt64BE(BigInt(i) + 1n);
    return { source: new SyntheticSource(`synthetic-${i}.bin`, base, tail), md5: prefix.copy().update(tail).digest('hex') };
  });
}

export interface ManyResult { seconds: number; completed: number; failures: string[]; retries: number }

/** Uploads every file at once, each over a connection of its own (as many separate clients would). */
export async function uploadAll(files: SyntheticFile[], options: UploadOptions): Promise<ManyResult> {
  const started = performance.now();
  const failures: string[] = [];
  let retries = 0;
  let completed = 0;
  await Promise.all(files.map(async ({ source, md5 }) => {
    const uploader = new Uploader(source, () => Promise.resolve(md5), { ...options, md5 });
    uploader.on('retry', () => retries++);
    try {
      const result = await uploader.start();
      if (result.file.md5 === md5 && result.file.size === source.size) completed++;
      else failures.push(`${source.name}: stored as ${result.file.md5} (${result.file.size} B)`);
    } catch (err) {
      failures.push(`${source.name}: ${(err as Error).message}`);
    }
  }));
  return { seconds: (performance.now() - started) / 1000, completed, failures, retries };
}
