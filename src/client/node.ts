import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { MiB, UpwireError } from '../protocol/index.js';
import { untilAborted } from './abortable.js';
import { Uploader, type FileSource, type Md5Hasher, type UploadResult } from './core.js';
import { FileHashCache } from './node-hash-cache.js';
import type { NodeUploadOptions } from './options.js';

export * from './shared-exports.js';
export { FileHashCache, defaultHashCachePath } from './node-hash-cache.js';
export type { NodeUploadOptions } from './options.js';

const HASH_BUFFER = 4 * MiB;

/** A file on disk, read at positions through one handle. */
export class NodeFileSource implements FileSource {
  readonly name: string;
  readonly size: number;
  readonly type: string;
  readonly #file: FileHandle;
  readonly #mtimeMs: number;

  private constructor(file: FileHandle, name: string, size: number, type: string, mtimeMs: number) {
    this.#file = file;
    this.#mtimeMs = mtimeMs;
    this.name = name;
    this.size = size;
    this.type = type;
  }

  /**
   * Opens a regular file, and nothing else: opening a FIFO blocks until a writer comes (and holds a
   * thread of the pool, so the process cannot even exit), and a directory or a device has no size
   * to upload. So the path is checked before it is opened, opened without blocking (O_NONBLOCK
   * does not change how a regular file reads), and the handle checked again: the path may have
   * been swapped in between.
   */
  static async open(path: string, options: { name?: string; type?: string } = {}): Promise<NodeFileSource> {
    const cannot = (err: unknown) =>
      new UpwireError('E_FILE', `cannot open ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {}, { cause: err });
    const notRegular = () => new UpwireError('E_FILE', `${path} is not a regular file`);
    try {
      if (!(await stat(path)).isFile()) throw notRegular();
    } catch (err) {
      throw err instanceof UpwireError ? err : cannot(err);
    }
    let file: FileHandle;
    try {
      // O_NONBLOCK is POSIX (undefined on Windows): a FIFO swapped in after the stat opens at once, and is refused below.
      file = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    } catch (err) {
      throw cannot(err);
    }
    const stats = await file.stat();
    if (!stats.isFile()) {
      await file.close();
      throw notRegular();
    }
    return new NodeFileSource(file, options.name ?? basename(path), stats.size, options.type ?? 'application/octet-stream', stats.mtimeMs);
  }

  async read(offset: number, length: number, into = new Uint8Array(length)): Promise<Uint8Array> {
    let done = 0;
    try {
      while (done < length) {
        const { bytesRead } = await this.#file.read(into, done, length - done, offset + done);
        if (bytesRead === 0) throw new Error(`the file ended at ${offset + done} bytes; it changed during the upload`);
        done += bytesRead;
      }
    } catch (err) {
      throw new UpwireError('E_FILE', `cannot read ${this.name}: ${(err as Error).message}`, {}, { cause: err });
    }
    return into.subarray(0, length);
  }

  async unchanged(): Promise<boolean> {
    const stats = await this.#file.stat();
    return stats.size === this.size && stats.mtimeMs === this.#mtimeMs;
  }

  /** Device, inode, size, and mtime and ctime in nanoseconds: any write to the file changes its ctime. */
  async identity(): Promise<string> {
    const s = await this.#file.stat({ bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  }

  close(): Promise<void> {
    return this.#file.close();
  }
}

/**
 * The end of the last hash this process started: hashes run one at a time, so files uploaded in
 * parallel overlap one file's hashing with the others' sending instead of all hashing first (the
 * hashing shares this thread either way), and a disk reads one file at a time, in order.
 */
let hashing: Promise<unknown> = Promise.resolve();

/** MD5 with node:crypto in one sequential pass through a single reused buffer, one file at a time. */
export const nodeMd5: Md5Hasher = (source, onProgress, signal) => {
  const turn = hashing.then(() => md5Pass(source, onProgress, signal));
  hashing = turn.catch(() => {});
  return untilAborted(turn, signal);
};

const md5Pass: Md5Hasher = async (source, onProgress, signal) => {
  const hash = createHash('md5');
  const buffer = new Uint8Array(Math.min(HASH_BUFFER, Math.max(1, source.size)));
  for (let offset = 0; offset < source.size; ) {
    if (signal.aborted) throw new UpwireError('E_ABORTED');
    const length = Math.min(buffer.length, source.size - offset);
    hash.update(await source.read(offset, length, buffer));
    offset += length;
    onProgress(offset);
  }
  return hash.digest('hex');
};

let sharedCache: FileHashCache | undefined;

/**
 * The hash cache an upload uses unless told otherwise: one file under the user's cache directory,
 * shared by the uploads of this process; none with UPWIRE_HASH_CACHE=off.
 */
function defaultHashCache(): FileHashCache | false {
  if (process.env.UPWIRE_HASH_CACHE === 'off') return false;
  sharedCache ??= new FileHashCache();
  return sharedCache;
}

/** An uploader for a file on disk: subscribe to its events, then `start()`. */
export async function createUploader(path: string, options: NodeUploadOptions): Promise<Uploader> {
  const source = await NodeFileSource.open(path, options);
  return new Uploader(source, nodeMd5, { hashCache: defaultHashCache(), ...options });
}

/** Uploads one file and resolves when the server has stored and verified it. */
export async function upload(path: string, options: NodeUploadOptions): Promise<UploadResult> {
  return (await createUploader(path, options)).start();
}
