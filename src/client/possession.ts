import SparkMD5 from 'spark-md5';
import type { ProveStatus } from '../protocol/index.js';
import type { FileSource } from './core.js';

/**
 * The answer to a proof-of-possession challenge (see ProveStatus): the MD5 of the challenge's
 * UTF-8 bytes followed by each asked range of the file, read from the source, in order. The ranges
 * are few and small (answers.ts bounds them), so this costs a few reads, not a hash of the file.
 */
export async function proofDigest(source: FileSource, { challenge, ranges }: ProveStatus): Promise<string> {
  const md5 = new SparkMD5.ArrayBuffer();
  md5.append(arrayBufferOf(new TextEncoder().encode(challenge)));
  for (const [start, end] of ranges) md5.append(arrayBufferOf(await source.read(start, end - start)));
  return md5.end();
}

/** spark-md5 takes an ArrayBuffer: the view's own bytes, not the whole (possibly pooled) buffer under it. */
function arrayBufferOf(view: Uint8Array): ArrayBuffer {
  return view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer;
}
