import { createHash } from 'node:crypto';
import { constants, type FileHandle, mkdir, open, rename, rm, stat, statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/**
 * Files on local disk: one temp file per MD5 under `<uploadDir>/.partial/`, and the verified store
 * `<uploadDir>/<md5[0..2]>/<md5>`. Paths are built only from validated md5 strings, never from names.
 */
export class Disk {
  readonly root: string;
  readonly #partialDir: string;

  constructor(uploadDir: string) {
    this.root = resolve(uploadDir);
    this.#partialDir = join(this.root, '.partial');
  }

  async open(): Promise<void> {
    await mkdir(this.#partialDir, { recursive: true });
  }

  tempPath(md5: string): string {
    return join(this.#partialDir, `${md5}.part`);
  }

  storePath(md5: string): string {
    return join(this.root, md5.slice(0, 2), md5);
  }

  /** Opens (creating, never truncating) the temp file: bytes already there may back recorded chunks. */
  openTemp(md5: string): Promise<FileHandle> {
    return open(this.tempPath(md5), constants.O_RDWR | constants.O_CREAT, 0o600);
  }

  /** Bytes in the temp file now, or -1 when it is gone. */
  async sizeOfTemp(md5: string): Promise<number> {
    try {
      return (await stat(this.tempPath(md5))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return -1;
      throw err;
    }
  }

  async removeTemp(md5: string): Promise<void> {
    await rm(this.tempPath(md5), { force: true });
  }

  async exists(path: string): Promise<boolean> {
    try {
      await stat(path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /**
   * Moves a verified temp file into the store. rename() is atomic, so the store never holds a
   * partial file; with `durable`, the directory entry is fsynced too, so the rename survives power loss.
   */
  async promote(md5: string, durable: boolean): Promise<void> {
    const shard = join(this.root, md5.slice(0, 2));
    await mkdir(shard, { recursive: true });
    await rename(this.tempPath(md5), this.storePath(md5));
    if (durable) await syncDirectory(shard);
  }

  async freeBytes(): Promise<number> {
    const stats = await statfs(this.root);
    return stats.bavail * stats.bsize;
  }
}

/** MD5 checks content against what the client claimed; SHA-256 is kept as a collision-resistant record. */
export interface Digests { md5: string; sha256: string }

/** Both digests of a whole file as it is on disk: one sequential read through one reused buffer. */
export async function digestsOfFile(path: string): Promise<Digests> {
  const file = await open(path, 'r');
  try {
    const md5 = createHash('md5');
    const sha256 = createHash('sha256');
    const buffer = new Uint8Array(4 * 1024 * 1024);
    for (let read = await file.read(buffer, 0, buffer.length, null); read.bytesRead > 0; read = await file.read(buffer, 0, buffer.length, null)) {
      const bytes = buffer.subarray(0, read.bytesRead);
      md5.update(bytes);
      sha256.update(bytes);
    }
    return { md5: md5.digest('hex'), sha256: sha256.digest('hex') };
  } finally {
    await file.close();
  }
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, constants.O_RDONLY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Positional write of all of `data` at `position` (a short write is continued, never lost). */
export async function writeAt(file: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await file.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

/** Reads exactly `length` bytes at `position` into `into`; a short file is an error, not zeros. */
export async function readAt(file: FileHandle, into: Uint8Array, length: number, position: number): Promise<Uint8Array> {
  let read = 0;
  while (read < length) {
    const { bytesRead } = await file.read(into, read, length - read, position + read);
    if (bytesRead === 0) throw new Error(`temp file ends at ${position + read}, expected ${position + length}`);
    read += bytesRead;
  }
  return into.subarray(0, length);
}
