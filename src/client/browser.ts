import { UpwireError } from '../protocol/index.js';
import { BROWSER_DEFAULTS } from './browser-defaults.js';
import { BlobReader } from './blob-reader.js';
import { fileIdentity, IndexedDbHashCache, sampleDigest, sampleRanges } from './browser-hash-cache.js';
import type { Connection } from './connection.js';
import { openConnection as openAnyConnection, Uploader, type ConnectionSettings, type FileSource, type Md5Hasher, type UploadResult } from './core.js';
import type { HashAlgorithm } from './hash-messages.js';
import type { BrowserUploadOptions } from './options.js';
import { md5OfBlob } from './worker-md5.js';

export * from './shared-exports.js';
export { IndexedDbHashCache } from './browser-hash-cache.js';
export type { BrowserUploadOptions } from './options.js';


/** One connection to a server, to share between uploads with the `connection` option (with the browser's defaults unless told). */
export function openConnection(options: ConnectionSettings): Connection {
  return openAnyConnection({ ...BROWSER_DEFAULTS, ...options });
}

/** A Blob or File, read in order through one stream where it can be (see blob-reader.ts). */
export class BlobFileSource implements FileSource {
  readonly name: string;
  readonly size: number;
  readonly type: string;
  readonly #reader: BlobReader;

  constructor(readonly blob: Blob, name?: string) {
    this.name = name ?? (blob as Partial<File>).name ?? 'blob';
    this.size = blob.size;
    this.type = blob.type || 'application/octet-stream';
    this.#reader = new BlobReader(blob);
  }

  /** A File is a snapshot: when the file changes on disk its reads fail (E_FILE) rather than differ. */
  async unchanged(): Promise<boolean> {
    return true;
  }

  /**
   * For a File: its name, size, lastModified and a digest of 8 sampled blocks of 4 KiB (32 KiB read,
   * about a millisecond); a plain Blob has none. Weaker than the Node key (inode and ctime, which no
   * program can set back): a file re-saved in place with its old lastModified and size, changed only
   * between the samples, is trusted. The server's check at merge catches that wrong md5 when the
   * upload is partial; when the server already has the file's old content, the uploader hashes the
   * file before it reports it as there (see core.ts). `hashCache: false` hashes every time.
   */
  async identity(): Promise<string | undefined> {
    if (typeof File === 'undefined' || !(this.blob instanceof File)) return undefined;
    const blocks = await Promise.all(sampleRanges(this.size).map(([start, end]) => this.read(start, end - start)));
    return fileIdentity(this.blob, sampleDigest(blocks));
  }

  /** Fills `into` when given, possibly by taking its memory: use the array returned (see FileSource.read). */
  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    try {
      return await this.#reader.read(offset, length, into);
    } catch (err) {
      // A File changed or removed on disk after it was picked fails its reads (NotReadableError).
      throw new UpwireError('E_FILE', `cannot read ${this.name}: ${(err as Error).message}`, {}, { cause: err });
    }
  }

  close(): Promise<void> {
    return this.#reader.close();
  }
}

/**
 * MD5 in a Web Worker (hash-worker.ts), reporting progress as slices are hashed. With no `workerUrl`
 * the worker is the one built into the package, started from a Blob URL; where no worker can start
 * (a CSP without blob: in worker-src), it hashes on the main thread instead (see worker-md5.ts).
 */
export function workerMd5(workerUrl?: string | URL, algorithm: HashAlgorithm = 'auto'): Md5Hasher {
  return (source, onProgress, signal) => {
    if (!(source instanceof BlobFileSource)) return Promise.reject(new TypeError('workerMd5 hashes Blob sources'));
    return md5OfBlob(source.blob, { workerUrl, algorithm }, onProgress, signal);
  };
}

let sharedCache: IndexedDbHashCache | undefined;

/** The hash cache an upload uses unless told otherwise: one IndexedDB database per origin, where there is IndexedDB. */
function defaultHashCache(): IndexedDbHashCache | false {
  if (typeof indexedDB === 'undefined') return false;
  sharedCache ??= new IndexedDbHashCache();
  return sharedCache;
}

/** An uploader for a File or Blob: subscribe to its events, then `start()`. */
export async function createUploader(file: Blob, options: BrowserUploadOptions): Promise<Uploader> {
  const hashCache = options.hashCache ?? defaultHashCache();
  return new Uploader(new BlobFileSource(file, options.name), workerMd5(options.workerUrl, options.hashAlgorithm), { ...BROWSER_DEFAULTS, ...options, hashCache });
}

/** Uploads one File or Blob and resolves when the server has stored and verified it. */
export async function upload(file: Blob, options: BrowserUploadOptions): Promise<UploadResult> {
  return (await createUploader(file, options)).start();
}
