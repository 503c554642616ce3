import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  GetObjectCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client, UploadPartCommand, UploadPartCopyCommand,
  type CreateMultipartUploadCommandOutput, type HeadObjectCommandOutput, type UploadPartCommandOutput, type UploadPartCopyCommandOutput,
} from '@aws-sdk/client-s3';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MiB } from '../../protocol/index.js';
import { ConfigError, StoreUnavailable } from '../model/errors.js';
import { contentDisposition } from './content-disposition.js';
import type { ByteStore, ByteStoreCapabilities, ChunkTags, PartialBytes } from './types.js';

/*
 * Bytes in S3-compatible object storage, so that several nodes need no shared file system.
 *
 * How uploads map to S3. One upload is one multipart upload, made when the upload is created
 * (`begin`) at `<prefix>uploads/<upload id>`; its handle (`<chunk size>:<S3 UploadId>`) is kept in
 * the upload's record, so every node sends parts to the same one. One chunk is one part (part
 * number = index + 1): every chunk but the last has the upload's chunk size, so every part but the
 * last is the same size (R2 needs that) and at least 5 MiB (S3 needs that), and chunk sizes are
 * chosen so no upload passes 10,000 parts (capabilities below). A part's ETag is kept with its
 * chunk's index in upwire's own state store (LevelDB or Redis), never read back with ListParts.
 *
 * Where a chunk's frames wait. A part is sent whole, and a chunk arrives in frames of up to 1 MiB:
 * its frames are spooled on local disk (`<spool>/<upload id>/<index>`), each chunk's MD5 computed as
 * its frames are written (they come in order), and the chunk is sent as its part, with Content-MD5
 * (S3 refuses a part whose bytes differ), when its last frame is written (`chunkDone`), before its
 * index is recorded: an acknowledged chunk is durable in S3. A failure there (a 5xx, a dropped
 * connection) is a retryable error to the client and the chunk stays missing.
 *
 * How the MD5 gate holds before anything is visible. Parts cannot be read before the multipart
 * upload is completed (`readBack: false`). The prefix hash (hashing/prefix-hash.ts) hashes frames
 * in order as they arrive; a spooled chunk stays on disk until the prefix has hashed it (`settled`),
 * so chunks that came out of order are read back from the spool, bounded by SPOOL_KEPT_BYTES in all
 * (beyond it the oldest such copies go). A merge completes the multipart upload into its staging
 * object (`seal`: not a stored file, nobody is served it), verifies it (with one node whose prefix
 * hash covers the upload, without reading it; else by reading the staging object back: several
 * nodes, a restart, a spool copy dropped), and only then copies it to `<prefix>files/<md5>`
 * (`commit`; CopyObject, or a multipart copy above 5 GiB), which downloads read with Range
 * requests. A file already stored there is kept (the content is stored once per md5).
 *
 * An upload forgotten (expired, aborted, started over) aborts its multipart upload and deletes its
 * staging object and spool. What upwire never does: serve, or copy to files/, bytes it did not verify.
 */

/** S3's floor for every part but the last, its most parts in one upload, and the largest part upwire makes. */
const MIN_PART = 5 * MiB;
const MAX_PARTS = 10_000;
const MAX_PART = 128 * MiB;
/** CopyObject copies at most this much; above, a multipart copy in parts of COPY_PART. */
const MAX_COPY = 5 * 1024 * MiB;
const COPY_PART = 512 * MiB;
const QUIET = { debug() {}, info() {}, warn() {}, error() {} };

/** How long a download redirect's presigned URL is valid. */
const DOWNLOAD_URL_SECONDS = 300;
/** Spooled chunks kept only for the prefix hash (sent already, not yet hashed), in all; beyond, the oldest go. */
const SPOOL_KEPT_BYTES = 1024 * MiB;

export interface S3BytesOptions {
  bucket: string;
  /** Prepended to every key (default `upwire/`). */
  prefix?: string;
  /** Where chunks in progress are spooled on local disk (each node its own). */
  spoolDir: string;
  /** A custom endpoint (radosgw, MinIO, R2): path-style addressing. Unset: AWS S3. */
  endpoint?: string;
  region?: string;
  /** An S3 client of the caller's (it stays the caller's); by default one from the SDK's credential chain. */
  client?: S3Client;
}

/** What a multipart upload's handle carries: the chunk size (which chunk a position is in) and S3's UploadId. */
function parseHandle(handle: string | undefined): { chunkSize: number; uploadId: string } {
  const at = handle?.indexOf(':') ?? -1;
  if (handle === undefined || at < 1) throw new Error(`not an S3 upload handle: ${handle}`);
  return { chunkSize: Number(handle.slice(0, at)), uploadId: handle.slice(at + 1) };
}

export class S3Bytes implements ByteStore {
  readonly capabilities: ByteStoreCapabilities = {
    minPartSize: MIN_PART, maxPartSize: MAX_PART, maxParts: MAX_PARTS,
    readBack: false,
    // A chunk is acknowledged once S3 answered its part: durable there, whatever happens here.
    durableOnFlush: true,
  };

  readonly #client: S3Client;
  readonly #ownClient: boolean;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #spool: Spool;

  constructor(private readonly options: S3BytesOptions) {
    this.#ownClient = options.client === undefined;
    // The SDK warns once that its releases after January 2027 need Node 22: package.json pins one
    // that runs on the Node versions upwire supports, so the warning says nothing to an operator.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.#client = options.client ?? new S3Client({
      // Every failure reaches upwire as an error (and the client as a code): the SDK's own console lines add nothing.
      logger: QUIET,
      region: options.region ?? 'us-east-1',
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint, forcePathStyle: true }),
      // A part's Content-MD5 is the check; the SDK's default trailing checksums on streamed bodies are
      // refused by some S3-compatible servers (radosgw answers 411).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? 'upwire/';
    this.#spool = new Spool(options.spoolDir, SPOOL_KEPT_BYTES);
  }

  /** The bucket must answer: a missing one, or credentials it refuses, is a start error. Stale spool from before a restart goes. */
  async open(): Promise<void> {
    await this.ready().catch((err: unknown) => {
      throw new ConfigError(`S3_BUCKET ${this.#bucket}${this.options.endpoint ? ` at ${this.options.endpoint}` : ''}: ${(err as Error).message}`);
    });
    await rm(this.options.spoolDir, { recursive: true, force: true });
    await mkdir(this.options.spoolDir, { recursive: true });
  }

  async close(): Promise<void> {
    if (this.#ownClient) this.#client.destroy();
  }

  /** For /readyz: the bucket answers. */
  async ready(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }));
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) throw new Error('the bucket does not exist');
      if (status === 403 || status === 401) throw new Error('the bucket refuses these credentials');
      throw new Error(`S3 does not answer: ${(err as Error).message}`);
    }
  }

  #uploadKey(id: string): string {
    return `${this.#prefix}uploads/${id}`;
  }

  #fileKey(md5: string): string {
    return `${this.#prefix}files/${md5}`;
  }

  async begin(id: string, { chunkSize }: { size: number; chunkSize: number }): Promise<string> {
    const made = await this.#send<CreateMultipartUploadCommandOutput>(new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#uploadKey(id), ContentType: 'application/octet-stream' }));
    return `${chunkSize}:${made.UploadId}`;
  }

  partial(id: string, handle?: string): PartialBytes {
    const { chunkSize, uploadId } = parseHandle(handle);
    return new S3Partial(this.#spool.of(id, chunkSize), (index, file, length, md5) => this.#uploadPart(id, uploadId, index, file, length, md5));
  }

  async #uploadPart(id: string, uploadId: string, index: number, file: string, length: number, md5: string): Promise<string> {
    const sent = await this.#send<UploadPartCommandOutput>(new UploadPartCommand({
      Bucket: this.#bucket, Key: this.#uploadKey(id), UploadId: uploadId, PartNumber: index + 1,
      Body: createReadStream(file), ContentLength: length, ContentMD5: md5,
    }));
    if (!sent.ETag) throw new Error(`S3 answered part ${index + 1} of ${id} without an ETag`);
    return sent.ETag;
  }

  async removePartial(id: string, handle?: string): Promise<void> {
    if (handle !== undefined) {
      await this.#send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#uploadKey(id), UploadId: parseHandle(handle).uploadId }))
        .catch((err: unknown) => (statusOf(err) === 404 ? undefined : Promise.reject(err)));
    }
    await this.#send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#uploadKey(id) }));
    await this.#spool.remove(id);
  }

  /**
   * Completes the multipart upload into its staging object, with the parts recorded (in order of
   * index), and answers that object to be verified. Completed already (by another node, or an
   * attempt that lost its lock): the staging object is the sealed copy. `attempt` names nothing
   * here: an upload has one staging object, which no part changes once completed.
   */
  async seal(id: string, _attempt: number, _durable: boolean, recorded?: { handle?: string; tags: ChunkTags }): Promise<PartialBytes> {
    const key = this.#uploadKey(id);
    const parts = [...(recorded?.tags ?? new Map<number, string>())].sort(([a], [b]) => a - b).map(([index, ETag]) => ({ PartNumber: index + 1, ETag }));
    // An empty file has no chunk, so no part: its staging object is written empty instead.
    if (parts.length === 0) {
      await this.removePartial(id, recorded?.handle);
      await this.#send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: new Uint8Array(0), ContentLength: 0 }));
      return new S3Object(this.#client, this.#bucket, key, (command) => this.#send(command));
    }
    try {
      await this.#send(new CompleteMultipartUploadCommand({
        Bucket: this.#bucket, Key: key, UploadId: parseHandle(recorded?.handle).uploadId, MultipartUpload: { Parts: parts },
      }));
    } catch (err) {
      if (statusOf(err) !== 404 || (await this.#size(key)) === undefined) throw err;
    }
    return new S3Object(this.#client, this.#bucket, key, (command) => this.#send(command));
  }

  /** Copies the verified staging object to the stored file, unless a file of that md5 is stored already; the staging object goes. */
  async commit(id: string, md5: string, { attempt }: { attempt?: number; durable: boolean }): Promise<'stored' | 'exists'> {
    if (attempt === undefined) throw new Error('S3Bytes.commit stores only a sealed copy');
    const source = this.#uploadKey(id);
    const target = this.#fileKey(md5);
    let outcome: 'stored' | 'exists' = 'exists';
    if ((await this.#size(target)) === undefined) {
      const size = await this.#size(source);
      if (size === undefined) throw new Error(`the sealed copy of ${id} is gone`);
      await this.#copy(source, target, size);
      outcome = 'stored';
    }
    await this.#send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: source }));
    await this.#spool.remove(id);
    return outcome;
  }

  async #copy(source: string, target: string, size: number): Promise<void> {
    const CopySource = `${this.#bucket}/${source}`;
    if (size <= MAX_COPY) {
      await this.#send(new CopyObjectCommand({ Bucket: this.#bucket, Key: target, CopySource, ContentType: 'application/octet-stream' }));
      return;
    }
    const { UploadId } = await this.#send<CreateMultipartUploadCommandOutput>(new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: target, ContentType: 'application/octet-stream' }));
    try {
      const parts = [];
      for (let start = 0, n = 1; start < size; start += COPY_PART, n++) {
        const end = Math.min(size, start + COPY_PART) - 1;
        const copied = await this.#send<UploadPartCopyCommandOutput>(new UploadPartCopyCommand({
          Bucket: this.#bucket, Key: target, UploadId, PartNumber: n, CopySource, CopySourceRange: `bytes=${start}-${end}`,
        }));
        parts.push({ PartNumber: n, ETag: copied.CopyPartResult?.ETag });
      }
      await this.#send(new CompleteMultipartUploadCommand({ Bucket: this.#bucket, Key: target, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      await this.#send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: target, UploadId })).catch(() => {});
      throw err;
    }
  }

  storedSize(md5: string): Promise<number | undefined> {
    return this.#size(this.#fileKey(md5));
  }

  async #size(key: string): Promise<number | undefined> {
    try {
      return (await this.#send<HeadObjectCommandOutput>(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }))).ContentLength;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** A presigned GET of the stored file, valid for DOWNLOAD_URL_SECONDS, answering with the principal's name and type. */
  async storedUrl(md5: string, { name, type }: { name: string; type: string }): Promise<string> {
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    const command = new GetObjectCommand({
      Bucket: this.#bucket, Key: this.#fileKey(md5), ResponseContentType: type, ResponseContentDisposition: contentDisposition(name),
    });
    return getSignedUrl(this.#client, command, { expiresIn: DOWNLOAD_URL_SECONDS });
  }

  readStored(md5: string, start: number, end: number): Readable {
    return rangeOf(this.#client, this.#bucket, this.#fileKey(md5), start, end, (command) => this.#send(command));
  }

  async removeStored(md5: string): Promise<void> {
    await this.#send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#fileKey(md5) }));
  }

  /** Object storage has no size this server can read: local disk is only the spool (ENOSPC there is E_NO_SPACE). */
  async freeBytes(): Promise<number> {
    return Number.MAX_SAFE_INTEGER;
  }

  /** Spooled bytes on local disk now (for the benchmark and tests). */
  get spooledBytes(): number {
    return this.#spool.bytes;
  }

  /** Sends a command; a server error or a broken connection is StoreUnavailable (retryable), anything else as it is. */
  async #send<O>(command: { readonly input: unknown }): Promise<O> {
    try {
      return (await this.#client.send(command as never)) as O;
    } catch (err) {
      if (isUnavailable(err)) throw new StoreUnavailable(`S3 is unavailable: ${(err as Error).message}`, { cause: err });
      throw err;
    }
  }
}

/** The HTTP status of an SDK error, if it has one. */
function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** A 5xx, a throttle, or no answer at all (refused, reset, timed out): worth trying again. */
function isUnavailable(err: unknown): boolean {
  const status = statusOf(err);
  if (status !== undefined) return status >= 500 || status === 429;
  const code = (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.name;
  return ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'TimeoutError', 'RequestTimeout'].includes(code ?? '') || /socket hang up/i.test((err as Error)?.message ?? '');
}

type Send = <O>(command: { readonly input: unknown }) => Promise<O>;

/** Bytes `start`..`end` (inclusive) of an object, as a stream (the GET is made when it is first read). */
function rangeOf(_client: S3Client, bucket: string, key: string, start: number, end: number, send: Send): Readable {
  return Readable.from((async function* () {
    const got = await send<{ Body?: AsyncIterable<Uint8Array> }>(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end}` }));
    if (!got.Body) throw new Error(`S3 answered ${key} without a body`);
    yield* got.Body;
  })());
}

/** A sealed copy to verify: the staging object, read with ranged GETs. */
class S3Object implements PartialBytes {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly key: string,
    private readonly send: Send,
  ) {}

  async write(): Promise<void> {
    throw new Error('a sealed copy takes no writes');
  }

  async flush(): Promise<void> {}

  async read(position: number, length: number, into: Uint8Array): Promise<Uint8Array> {
    let read = 0;
    for await (const piece of rangeOf(this.client, this.bucket, this.key, position, position + length - 1, this.send) as AsyncIterable<Uint8Array>) {
      if (read + piece.length > length) throw new Error(`S3 answered more than the ${length} bytes asked of ${this.key}`);
      into.set(piece, read);
      read += piece.length;
    }
    if (read !== length) throw new Error(`${this.key} ends at ${position + read}, expected ${position + length}`);
    return into.subarray(0, length);
  }

  async size(): Promise<number> {
    try {
      const head = await this.send<{ ContentLength?: number }>(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key }));
      return head.ContentLength ?? -1;
    } catch (err) {
      if (statusOf(err) === 404) return -1;
      throw err;
    }
  }

  async release(): Promise<void> {}
}

/** One chunk spooled: its file, bytes written, the MD5 of its frames so far, and whether it was sent as its part. */
interface Spooled { file: string; written: number; md5: Hash; sent: boolean; end: number }

/**
 * The chunks of uploads in progress on local disk: a file per chunk, written as frames come and
 * removed once sent as a part and hashed by the prefix (or, beyond `keep` bytes of such copies
 * kept only for the prefix hash, the oldest first: the merge then reads the staging object back).
 */
class Spool {
  bytes = 0;
  /** Per upload, its chunks; and the chunks sent and not yet hashed, oldest first, across uploads. */
  readonly #uploads = new Map<string, { chunkSize: number; chunks: Map<number, Spooled>; settled: number }>();
  readonly #kept = new Set<{ id: string; index: number }>();

  constructor(private readonly dir: string, private readonly keep: number) {}

  of(id: string, chunkSize: number): UploadSpool {
    let upload = this.#uploads.get(id);
    if (!upload) this.#uploads.set(id, (upload = { chunkSize, chunks: new Map(), settled: 0 }));
    const state = upload;
    const dir = join(this.dir, id);
    return {
      chunkSize,
      chunk: (index) => state.chunks.get(index),
      start: async (index, end) => {
        const old = state.chunks.get(index);
        if (old) await this.#drop(id, index);
        const spooled: Spooled = { file: join(dir, String(index)), written: 0, md5: createHash('md5'), sent: false, end };
        await mkdir(dir, { recursive: true });
        state.chunks.set(index, spooled);
        return spooled;
      },
      wrote: (bytes) => (this.bytes += bytes),
      sent: async (index) => {
        const spooled = state.chunks.get(index);
        if (!spooled) return;
        spooled.sent = true;
        if (spooled.end <= state.settled) return this.#drop(id, index);
        this.#kept.add({ id, index });
        await this.#trim();
      },
      settled: (end) => {
        state.settled = Math.max(state.settled, end);
        for (const [index, spooled] of state.chunks) if (spooled.sent && spooled.end <= state.settled) void this.#drop(id, index);
      },
    };
  }

  async remove(id: string): Promise<void> {
    const upload = this.#uploads.get(id);
    for (const index of upload?.chunks.keys() ?? []) await this.#drop(id, index);
    this.#uploads.delete(id);
    await rm(join(this.dir, id), { recursive: true, force: true });
  }

  async #drop(id: string, index: number): Promise<void> {
    const upload = this.#uploads.get(id);
    const spooled = upload?.chunks.get(index);
    if (!spooled) return;
    upload!.chunks.delete(index);
    this.bytes -= spooled.written;
    for (const kept of this.#kept) if (kept.id === id && kept.index === index) this.#kept.delete(kept);
    await rm(spooled.file, { force: true });
  }

  async #trim(): Promise<void> {
    let keptBytes = 0;
    for (const { id, index } of this.#kept) keptBytes += this.#uploads.get(id)?.chunks.get(index)?.written ?? 0;
    for (const { id, index } of [...this.#kept]) {
      if (keptBytes <= this.keep) return;
      keptBytes -= this.#uploads.get(id)?.chunks.get(index)?.written ?? 0;
      await this.#drop(id, index);
    }
  }
}

interface UploadSpool {
  chunkSize: number;
  chunk(index: number): Spooled | undefined;
  /** A chunk started at its offset 0 (again: what was spooled of it goes). */
  start(index: number, end: number): Promise<Spooled>;
  wrote(bytes: number): void;
  /** Sent as its part: removed once hashed, or kept for the prefix hash. */
  sent(index: number): Promise<void>;
  settled(end: number): void;
}

/** One upload's bytes in progress: frames spooled per chunk, each chunk sent as its part when done. */
class S3Partial implements PartialBytes {
  constructor(
    private readonly spool: UploadSpool,
    private readonly upload: (index: number, file: string, length: number, md5: string) => Promise<string>,
  ) {}

  /** Frames of one chunk come in order from its offset 0 (session.ts): a frame at 0 starts it over. */
  async write(position: number, data: Uint8Array): Promise<void> {
    const { chunkSize } = this.spool;
    const index = Math.floor(position / chunkSize);
    const offset = position - index * chunkSize;
    let spooled = this.spool.chunk(index);
    if (offset === 0 || !spooled) spooled = await this.spool.start(index, (index + 1) * chunkSize);
    if (offset !== spooled.written) throw new Error(`chunk ${index}: a frame at ${offset} does not continue the ${spooled.written} bytes spooled`);
    const file = await open(spooled.file, offset === 0 ? 'w' : 'r+');
    try {
      let done = 0;
      while (done < data.length) done += (await file.write(data, done, data.length - done, offset + done)).bytesWritten;
    } finally {
      await file.close();
    }
    spooled.md5.update(data);
    spooled.written += data.length;
    this.spool.wrote(data.length);
  }

  async chunkDone(index: number, _position: number, length: number): Promise<string> {
    const spooled = this.spool.chunk(index);
    if (!spooled || spooled.written !== length) throw new Error(`chunk ${index} is not spooled whole (${spooled?.written ?? 0} of ${length} bytes)`);
    spooled.end = index * this.spool.chunkSize + length;
    const tag = await this.upload(index, spooled.file, length, spooled.md5.copy().digest('base64'));
    await this.spool.sent(index);
    return tag;
  }

  settled(end: number): void {
    this.spool.settled(end);
  }

  async flush(): Promise<void> {}

  /** From the spool, while a chunk is there (sent parts cannot be read back from S3 before completion). */
  async read(position: number, length: number, into: Uint8Array): Promise<Uint8Array> {
    const index = Math.floor(position / this.spool.chunkSize);
    const spooled = this.spool.chunk(index);
    const offset = position - index * this.spool.chunkSize;
    if (!spooled || offset + length > spooled.written) throw new Error(`chunk ${index} is not spooled here: it cannot be read back before the upload is sealed`);
    const file = await open(spooled.file, 'r');
    try {
      let read = 0;
      while (read < length) {
        const { bytesRead } = await file.read(into, read, length - read, offset + read);
        if (bytesRead === 0) throw new Error(`spooled chunk ${index} ends early`);
        read += bytesRead;
      }
      return into.subarray(0, length);
    } finally {
      await file.close();
    }
  }

  /** Not known without asking S3 (ListParts, which upwire does not use): the state store is the authority. */
  async size(): Promise<number> {
    return Number.MAX_SAFE_INTEGER;
  }

  async release(): Promise<void> {}
}
