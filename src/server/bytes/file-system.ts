import { createReadStream } from 'node:fs';
import { constants, copyFile, type FileHandle, link, mkdir, open, rename, rm, stat, statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { MAX_CHUNK_SIZE, MAX_CHUNKS, MIN_CHUNK_SIZE } from '../../protocol/index.js';
import { ConfigError } from '../model/errors.js';
import type { ByteStore, ByteStoreCapabilities, PartialBytes } from './types.js';

export interface FileSystemOptions {
  /** Temp files open at once; beyond, the one idle longest is closed (it reopens on its next write). */
  maxOpenFiles?: number;
  /** A temp file with no read or write this long is closed. */
  idleCloseMs?: number;
}

/**
 * Bytes in files on one file system: a temp file per upload under `<root>/.partial/<id>.part`
 * (sealed copies, with several nodes, under `<root>/.partial/<id>.sealed/<attempt>`), and the verified
 * store `<root>/<md5[0..2]>/<md5>`, reached by an atomic hard link (then the source is unlinked):
 * unlike a rename, a link never replaces a stored file, so a merge that lost its lock cannot
 * overwrite what another stored. Paths are built only from validated md5 strings and upload ids
 * (hex and '-'), never from names. A temp file is open only while bytes flow: at most
 * `maxOpenFiles` at once, each closed after `idleCloseMs` without use.
 */
export class FileSystemBytes implements ByteStore {
  readonly capabilities: ByteStoreCapabilities = {
    minPartSize: MIN_CHUNK_SIZE,
    maxPartSize: MAX_CHUNK_SIZE,
    maxParts: MAX_CHUNKS,
    readBack: true,
    durableOnFlush: true,
  };

  readonly root: string;
  readonly #partialDir: string;
  readonly #maxOpen: number;
  readonly #idleCloseMs: number;
  readonly #partials = new Map<string, TempFile>();
  /** Temp files with an open handle, least recently used first. */
  readonly #open = new Set<TempFile>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(root: string, options: FileSystemOptions = {}) {
    this.root = resolve(root);
    this.#partialDir = join(this.root, '.partial');
    this.#maxOpen = options.maxOpenFiles ?? 256;
    this.#idleCloseMs = options.idleCloseMs ?? 10_000;
  }

  async open(): Promise<void> {
    await mkdir(this.#partialDir, { recursive: true });
    // A merge is a rename from .partial into the store: it cannot cross file systems (EXDEV).
    const [root, partial] = await Promise.all([stat(this.root), stat(this.#partialDir)]);
    if (root.dev !== partial.dev) {
      throw new ConfigError(`UPLOAD_DIR: ${this.#partialDir} is on another file system than ${this.root}: a merge renames from one to the other and cannot cross file systems; mount them together`);
    }
    this.#sweeper = setInterval(() => this.#closeIdle(), Math.min(this.#idleCloseMs, 5000)).unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    await Promise.all([...this.#open].map((file) => file.release()));
  }

  tempPath(id: string): string {
    return join(this.#partialDir, `${id}.part`);
  }

  sealedPath(id: string, attempt: number): string {
    return join(this.#sealedDir(id), String(attempt));
  }

  #sealedDir(id: string): string {
    return join(this.#partialDir, `${id}.sealed`);
  }

  storePath(md5: string): string {
    return join(this.root, md5.slice(0, 2), md5);
  }

  partial(id: string): PartialBytes {
    let file = this.#partials.get(id);
    if (!file) this.#partials.set(id, (file = new TempFile(this.tempPath(id), this)));
    return file;
  }

  async removePartial(id: string): Promise<void> {
    await this.#partials.get(id)?.release();
    this.#partials.delete(id);
    await Promise.all([rm(this.tempPath(id), { force: true }), rm(this.#sealedDir(id), { recursive: true, force: true })]);
  }

  /**
   * A copy of the temp file (copy_file_range on Linux: in the kernel, no pass through this
   * process), made before the verification reads it: a handle another node keeps on the temp file
   * cannot change the copy. Each attempt has its own copy, and a new one removes those of earlier
   * attempts (failed, or of a node that lost the lock): one copy per upload at most.
   */
  async seal(id: string, attempt: number, durable: boolean): Promise<PartialBytes> {
    await this.#partials.get(id)?.release();
    const path = this.sealedPath(id, attempt);
    await rm(this.#sealedDir(id), { recursive: true, force: true });
    await mkdir(this.#sealedDir(id), { recursive: true });
    await copyFile(this.tempPath(id), path);
    const sealed = new TempFile(path, this);
    if (durable) await sealed.flush();
    return sealed;
  }

  async commit(id: string, md5: string, { attempt, durable }: { attempt?: number; durable: boolean }): Promise<'stored' | 'exists'> {
    await this.#partials.get(id)?.release();
    const source = attempt === undefined ? this.tempPath(id) : this.sealedPath(id, attempt);
    const shard = join(this.root, md5.slice(0, 2));
    await mkdir(shard, { recursive: true });
    const outcome = await linkNew(source, this.storePath(md5));
    await rm(source, { force: true });
    if (durable) await syncDirectory(shard);
    return outcome;
  }

  async storedSize(md5: string): Promise<number | undefined> {
    try {
      const stats = await stat(this.storePath(md5));
      return stats.isFile() ? stats.size : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  readStored(md5: string, start: number, end: number): Readable {
    return createReadStream(this.storePath(md5), { start, end, highWaterMark: 1024 * 1024 });
  }

  async removeStored(md5: string): Promise<void> {
    await rm(this.storePath(md5), { force: true });
  }

  async freeBytes(): Promise<number> {
    const stats = await statfs(this.root);
    return stats.bavail * stats.bsize;
  }

  /** Open temp files now (for tests and /metrics). */
  get openFiles(): number {
    return this.#open.size;
  }

  /** @internal A temp file is about to open its handle: make room under the cap. */
  opening(file: TempFile): void {
    if (this.#open.size < this.#maxOpen) return;
    for (const other of this.#open) {
      if (other !== file && other.idle) {
        void other.release();
        return;
      }
    }
  }

  /** @internal */
  used(file: TempFile, open: boolean): void {
    this.#open.delete(file);
    if (open) this.#open.add(file);
  }

  #closeIdle(): void {
    const now = Date.now();
    for (const file of this.#open) if (file.idle && now - file.lastUsed > this.#idleCloseMs) void file.release();
  }
}

/** One temp file, its handle opened on demand and closed when idle. */
class TempFile implements PartialBytes {
  lastUsed = Date.now();
  #handle: Promise<FileHandle> | undefined;
  #busy = 0;

  constructor(
    private readonly path: string,
    private readonly store: FileSystemBytes,
  ) {}

  get idle(): boolean {
    return this.#busy === 0;
  }

  write(position: number, data: Uint8Array): Promise<void> {
    return this.#use(async (file) => {
      let written = 0;
      // A short write is continued, never lost.
      while (written < data.length) {
        const { bytesWritten } = await file.write(data, written, data.length - written, position + written);
        written += bytesWritten;
      }
    });
  }

  /** fdatasync on a handle opened anew still syncs what was written through an earlier one: it syncs the file. */
  flush(): Promise<void> {
    return this.#use((file) => file.datasync());
  }

  read(position: number, length: number, into: Uint8Array): Promise<Uint8Array> {
    return this.#use(async (file) => {
      let read = 0;
      while (read < length) {
        const { bytesRead } = await file.read(into, read, length - read, position + read);
        if (bytesRead === 0) throw new Error(`temp file ends at ${position + read}, expected ${position + length}`);
        read += bytesRead;
      }
      return into.subarray(0, length);
    });
  }

  async size(): Promise<number> {
    try {
      return (await stat(this.path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return -1;
      throw err;
    }
  }

  async release(): Promise<void> {
    const handle = this.#handle;
    if (!handle || this.#busy > 0) return;
    this.#handle = undefined;
    this.store.used(this, false);
    await (await handle.catch(() => undefined))?.close();
  }

  async #use<T>(task: (file: FileHandle) => Promise<T>): Promise<T> {
    this.#busy++;
    try {
      if (!this.#handle) {
        this.store.opening(this);
        // Created on first use, never truncated: bytes already there may back recorded chunks.
        this.#handle = open(this.path, constants.O_RDWR | constants.O_CREAT, 0o600);
        this.#handle.catch(() => (this.#handle = undefined));
      }
      this.store.used(this, true);
      return await task(await this.#handle);
    } finally {
      this.#busy--;
      this.lastUsed = Date.now();
    }
  }
}

/**
 * `source` becomes `target` unless `target` exists: a hard link is atomic and fails with EEXIST
 * rather than replace. On a file system without hard links (some FUSE and SMB mounts), a check and
 * a rename: not atomic against another node's commit, but both commit verified bytes of one md5.
 */
async function linkNew(source: string, target: string): Promise<'stored' | 'exists'> {
  try {
    await link(source, target);
    return 'stored';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return 'exists';
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
  }
  if (await stat(target).then(() => true, () => false)) return 'exists';
  await rename(source, target);
  return 'stored';
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, constants.O_RDONLY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
