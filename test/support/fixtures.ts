import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temp directory removed in teardown. */
export async function tempDir(prefix = 'upwire-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * Where the file-system byte store keeps a verified file (bytes/file-system.ts storePath): the one
 * place the tests know the store's on-disk layout.
 */
export function storedPath(uploadDir: string, md5: string): string {
  return join(uploadDir, md5.slice(0, 2), md5);
}

/** The folder of the store that holds the files whose md5 begins as `md5` does. */
export function storedShard(uploadDir: string, md5: string): string {
  return join(uploadDir, md5.slice(0, 2));
}

export function md5Of(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

/** Random bytes written to `dir/name`, with their md5. */
export async function randomFile(dir: string, size: number, name = `file-${size}.bin`): Promise<{ path: string; data: Buffer; md5: string }> {
  const data = randomBytes(size);
  const path = join(dir, name);
  await writeFile(path, data);
  return { path, data, md5: md5Of(data) };
}

/**
 * Skips the running suite (from `before`) or test when a component it needs is missing here, and
 * says which in the output; `why` undefined: the component is there and nothing happens.
 */
export function skipWithout(context: Mocha.Context, why: string | undefined): void {
  if (why === undefined) return;
  console.log(`      skipped: ${why}`);
  context.skip();
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` returns a truthy value or the time is up. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
