import { open } from 'node:fs/promises';
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A file of random bytes written 8 MiB at a time (no need to hold it in memory). */
export async function randomFileOfSize(dir: string, sizeMiB: number, name = `random-${sizeMiB}MiB.bin`): Promise<string> {
  const path = join(dir, name);
  const file = await open(path, 'w');
  const block = Buffer.alloc(8 * 1024 * 1024);
  try {
    for (let left = sizeMiB * 1024 * 1024; left > 0; left -= block.length) {
      randomFillSync(block);
      await file.write(block, 0, Math.min(left, block.length));
    }
  } finally {
    await file.close();
  }
  return path;
}
