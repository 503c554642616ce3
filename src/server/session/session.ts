import {
  chunkLength, MIN_FRAME_SIZE, missingRanges, UpwireError,
  type PartialStatus, type UploadSnapshot,
} from '../../protocol/index.js';
import { Assemblies, type Assembly } from './assemblies.js';
import type { ByteStore, ChunkTags, PartialBytes } from '../bytes/types.js';
import { digestsOfPartial, type DigestChoice, type Digests } from '../hashing/digests.js';
import { crash, failpoint, reached } from '../observe/failpoints.js';
import type { UploadEvents } from '../observe/events.js';
import { SerialQueue } from './serial-queue.js';
import { PrefixHasher } from '../hashing/prefix-hash.js';
import type { UploadMeta, UploadStateStore } from '../store/types.js';

interface Pending { index: number; tag: string | undefined; resolve: () => void; reject: (err: unknown) => void }

/** The most read back at once into one session's buffer (a chunk may be far larger). */
const READ_SLICE = 4 * 1024 * 1024;

/** Thrown by a session closed under a write (merged, aborted, started over, unloaded). */
export class SessionClosed extends UpwireError {
  constructor() {
    super('E_UNKNOWN_UPLOAD', 'the upload was closed');
  }
}

/** A connection that sent a chunk this recently counts among an upload's clients. */
const RECENT_MS = 5000;

/**
 * Chunks of one upload in progress at once. An honest sender has at most its window of bytes in
 * flight, a few chunks; beyond this the chunk untouched longest is forgotten (its bytes sent again).
 */
const MAX_CHUNKS_IN_PROGRESS = 256;

/** What became of one frame: its bytes written (accepted), and whether its chunk is stored now. */
export interface FrameResult { accepted: boolean; stored: boolean }

/** Bytes per second over the last few seconds, from (time, total bytes) samples. */
class RateWindow {
  readonly #samples: { at: number; bytes: number }[] = [];

  perSecond(now: number, bytes: number): number {
    this.#samples.push({ at: now, bytes });
    while (this.#samples.length > 2 && now - this.#samples[0]!.at > 3000) this.#samples.shift();
    const first = this.#samples[0]!;
    return now > first.at ? Math.round(((bytes - first.bytes) * 1000) / (now - first.at)) : 0;
  }
}

export interface SessionDeps {
  uploads: UploadStateStore;
  bytes: ByteStore;
  fsync: boolean;
  events: Pick<UploadEvents, 'written'>;
  /** 'received': hash chunks as they arrive (no second read). 'disk': hash the stored bytes at merge. */
  verify: 'received' | 'disk';
  /** Whether the verification also computes the SHA-256 record (SHA256=inline). */
  digests: DigestChoice;
}

/** A verification that passed: the content hashes to the upload's MD5; its SHA-256 when computed with it. */
export interface Verified { sha256?: string }

export interface VerifyOptions {
  /** Verify a sealed copy of the upload, this attempt's own (see ByteStore.seal). */
  attempt?: number;
  /** What the store needs to seal: the upload's handle and its chunks' tags. */
  recorded?: { handle?: string; tags: ChunkTags };
  /** A sealed copy need not be read when the prefix hash of this session covers the upload (one node only). */
  prefixFirst?: boolean;
  /** The merge's lock: the pass stops once it is lost. */
  signal?: AbortSignal;
}

/**
 * One partial upload held open: its temp file, which chunks are stored, the chunks in progress, and
 * its prefix hash. Shared by every connection sending the same MD5. A chunk counts as stored only
 * once all of its bytes are written (and, with fsync on, durable) and its index is recorded.
 */
export class UploadSession {
  readonly meta: UploadMeta;
  receivedCount = 0;
  receivedBytes = 0;
  lastActive = Date.now();
  readonly #deps: SessionDeps;
  readonly #bytes: PartialBytes;
  readonly #stored: Uint8Array;
  readonly #assemblies: Assemblies;
  /** The writes of one chunk run one after another, so a chunk started over lands after the old bytes. */
  readonly #writes = new SerialQueue<number>();
  readonly #active = new Set<Promise<unknown>>();
  readonly #hasher: PrefixHasher;
  #lowestMissing = 0;
  #queue: Pending[] = [];
  #recording = false;
  #readBuffer: Uint8Array | undefined;
  #closed = false;
  readonly #senders = new Map<string, number>();
  readonly #rate = new RateWindow();

  private constructor(meta: UploadMeta, deps: SessionDeps) {
    this.meta = meta;
    this.#bytes = deps.bytes.partial(meta.id, meta.handle);
    this.#deps = deps;
    this.#stored = new Uint8Array(meta.total);
    this.#hasher = new PrefixHasher(meta, (i) => this.isStored(i), (i, take) => this.#readChunk(i, take), deps.digests, (end) => this.#bytes.settled?.(end));
    this.#assemblies = new Assemblies(MAX_CHUNKS_IN_PROGRESS, (dropped) => this.#hasher.discard(dropped.index));
  }

  /**
   * Loads the recorded indices. Indices whose bytes the store cannot hold (a temp file truncated or
   * deleted behind our back) are not trusted: the upload starts over. Nothing is opened until bytes come.
   */
  static async open(meta: UploadMeta, deps: SessionDeps, { fresh = false } = {}): Promise<UploadSession> {
    const session = new UploadSession(meta, deps);
    // A zero-byte upload has no chunk to write: its empty file is made now, so the merge commits it like any other.
    if (fresh && meta.size === 0) await session.#bytes.write(0, new Uint8Array(0));
    if (fresh) return session;
    const indices = await deps.uploads.receivedIndices(meta.id);
    const needed = indices.reduce((end, i) => Math.max(end, i * meta.chunkSize + session.lengthOf(i)), 0);
    // A store that cannot read back (object storage) keeps chunks as parts it vouches for: trusted as recorded.
    if (deps.bytes.capabilities.readBack && (await session.#bytes.size()) < needed) {
      await deps.uploads.clearChunks(meta.id);
    } else {
      for (const index of indices) if (index < meta.total) session.#mark(index);
    }
    return session;
  }

  /** The upload's id (see upload-id.ts): its state, temp file and lock are kept under it. */
  get id(): string {
    return this.meta.id;
  }

  get md5(): string {
    return this.meta.md5;
  }

  /**
   * Learns the chunks other nodes stored since this session was loaded (state shared through the
   * store): the store is the authority, this session a cache of it.
   */
  async refresh(): Promise<void> {
    for (const index of await this.#deps.uploads.receivedIndices(this.meta.id)) {
      if (index < this.meta.total && !this.isStored(index)) {
        this.#mark(index);
        this.#hasher.stored(index);
      }
    }
  }

  get complete(): boolean {
    return this.receivedCount === this.meta.total;
  }

  isStored(index: number): boolean {
    return this.#stored[index] === 1;
  }

  lengthOf(index: number): number {
    return chunkLength(this.meta.size, this.meta.chunkSize, index);
  }

  /** The lowest index not yet stored, or null when all are. */
  get next(): number | null {
    return this.#lowestMissing < this.meta.total ? this.#lowestMissing : null;
  }

  status(): PartialStatus {
    const { md5, size, chunkSize, total } = this.meta;
    return { status: 'partial', md5, size, chunkSize, total, missing: missingRanges(total, (i) => this.isStored(i)), next: this.next };
  }

  snapshot(): UploadSnapshot {
    const { id, md5, name, size, total } = this.meta;
    const now = Date.now();
    for (const [client, at] of this.#senders) if (now - at > RECENT_MS) this.#senders.delete(client);
    const bytes = this.receivedBytes + this.#assemblies.writtenBytes;
    const rate = this.#rate.perSecond(now, bytes);
    return { id, md5, name, size, total, received: this.receivedCount, bytes, rate, clients: [...this.#senders.keys()] };
  }

  /** Refuses a frame that does not fit this upload's geometry, before anything is written. */
  check(index: number, total: number, offset: number, length: number): void {
    if (total !== this.meta.total || index >= this.meta.total) {
      throw new UpwireError('E_INDEX', `index ${index} of ${total} does not fit an upload of ${this.meta.total} chunks`, { total: this.meta.total });
    }
    const expected = this.lengthOf(index);
    if (offset + length > expected) {
      throw new UpwireError('E_CHUNK_SIZE', `${length} bytes at offset ${offset} overrun chunk ${index} of ${expected} bytes`, { expected });
    }
    // Tiny frames would make the server answer (and write) once per few bytes: only a chunk's last frame may be short.
    if (offset + length < expected && length < MIN_FRAME_SIZE) {
      throw new UpwireError('E_CHUNK_SIZE', `a frame that does not end its chunk must carry at least ${MIN_FRAME_SIZE} bytes`, { expected });
    }
  }

  /**
   * Writes one frame of chunk `index` from connection `client`; the frame that completes the
   * chunk resolves once the chunk is recorded. A frame for a chunk already stored, or one that does
   * not continue this connection's assembly of the chunk, is not accepted and changes nothing.
   */
  frame(index: number, offset: number, data: Uint8Array, client: string): Promise<FrameResult> {
    if (this.isStored(index)) return Promise.resolve({ accepted: false, stored: true });
    if (this.#closed) return Promise.reject(new SessionClosed());
    this.lastActive = Date.now();
    this.#senders.set(client, this.lastActive);
    const assembly = offset === 0 ? this.#assemblies.start(index, client) : this.#assemblies.continue(index, client, offset);
    if (!assembly) return Promise.resolve({ accepted: false, stored: false });
    assembly.received += data.length;
    if (this.#deps.verify === 'received') this.#hasher.feed(index, offset, data);
    const work = this.#receive(assembly, offset, data);
    this.#active.add(work);
    void work.finally(() => this.#active.delete(work)).catch(() => {});
    return work;
  }

  async #receive(assembly: Assembly, offset: number, data: Uint8Array): Promise<FrameResult> {
    const { index } = assembly;
    try {
      await this.#writes.run(index, () => this.#write(assembly, offset, data));
      if (!this.#assemblies.isCurrent(assembly)) return { accepted: false, stored: this.isStored(index) };
      if (assembly.written < this.lengthOf(index)) return { accepted: true, stored: false };
      assembly.sealed = true;
      const tag = await this.#bytes.chunkDone?.(index, index * this.meta.chunkSize, this.lengthOf(index));
      failpoint('after-chunk-bytes');
      await this.#record(index, tag);
    } catch (err) {
      this.#assemblies.drop(assembly);
      throw err;
    }
    this.#assemblies.finish(assembly);
    this.#mark(index);
    this.#hasher.stored(index);
    return { accepted: true, stored: true };
  }

  async #write(assembly: Assembly, offset: number, data: Uint8Array): Promise<void> {
    if (this.#closed) throw new SessionClosed();
    // Started over by another frame while this one waited: its bytes would only be overwritten.
    if (!this.#assemblies.isCurrent(assembly)) return;
    const started = performance.now();
    const position = assembly.index * this.meta.chunkSize + offset;
    if (reached('mid-chunk-write')) {
      await this.#bytes.write(position, data.subarray(0, data.length >> 1));
      crash();
    }
    await this.#bytes.write(position, data);
    assembly.written += data.length;
    this.#deps.events.written(data.length, (performance.now() - started) / 1000);
  }

  /**
   * Records a chunk whose bytes are written, as a group: indices written while one group is being
   * recorded wait for the next, so a fast upload pays one fdatasync and one LevelDB batch per group
   * of chunks rather than per chunk.
   */
  #record(index: number, tag: string | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ index, tag, resolve, reject });
      if (!this.#recording) void this.#recordQueued();
    });
  }

  async #recordQueued(): Promise<void> {
    this.#recording = true;
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue;
        this.#queue = [];
        try {
          if (this.#deps.fsync) await this.#bytes.flush();
          this.meta.updatedAt = Date.now();
          this.meta.received = this.receivedBytes + group.reduce((sum, p) => sum + this.lengthOf(p.index), 0);
          const progress = { updatedAt: this.meta.updatedAt, received: this.meta.received };
          const tags = group.some((p) => p.tag !== undefined) ? group.map((p) => p.tag) : undefined;
          await this.#deps.uploads.recordChunks(this.meta.id, group.map((p) => p.index), progress, this.#deps.fsync, tags);
          failpoint('after-chunk-index');
          for (const p of group) p.resolve();
        } catch (err) {
          for (const p of group) p.reject(err);
        }
      }
    } finally {
      this.#recording = false;
    }
  }

  #mark(index: number): void {
    if (this.#stored[index] === 1) return;
    this.#stored[index] = 1;
    this.receivedCount++;
    this.receivedBytes += this.lengthOf(index);
    while (this.#lowestMissing < this.meta.total && this.#stored[this.#lowestMissing] === 1) this.#lowestMissing++;
  }

  async #readChunk(index: number, take: (data: Uint8Array) => void): Promise<void> {
    this.#readBuffer ??= new Uint8Array(Math.min(this.meta.chunkSize, READ_SLICE));
    const start = index * this.meta.chunkSize;
    const end = start + this.lengthOf(index);
    for (let position = start; position < end; position += this.#readBuffer.length) {
      take(await this.#bytes.read(position, Math.min(this.#readBuffer.length, end - position), this.#readBuffer));
    }
  }

  /**
   * Verified when the stored content hashes to the upload's MD5 and the store still holds all of
   * it; undefined otherwise. The hashes are of the bytes as received (no second read), so a temp
   * file truncated or removed behind our back is caught by its size here. `attempt` (several nodes):
   * of sealed copy `attempt`, read back. `signal`: the merge's lock; the pass stops once it is lost.
   */
  async verify(options: VerifyOptions = {}): Promise<Verified | undefined> {
    const { attempt, signal } = options;
    if (attempt !== undefined) return this.#verifySealed(attempt, options);
    const held = await this.#bytes.size();
    if (held !== this.meta.size) return undefined;
    return this.#verified(this.#deps.verify === 'disk'
      ? await digestsOfPartial(this.#bytes, held, this.#deps.digests, signal)
      : await this.#hasher.digest());
  }

  #verified({ md5, sha256 }: Digests): Verified | undefined {
    if (md5 !== this.meta.md5) return undefined;
    return sha256 === undefined ? {} : { sha256 };
  }

  /**
   * The check with several nodes: this node's frames in flight are written, then the temp file is sealed
   * (copied where no other node's handle on it reaches) as this attempt's own copy, and the copy is
   * read back and hashed; the commit then stores that copy and nothing else. (The prefix hash saw
   * only this node's frames.)
   */
  async #verifySealed(attempt: number, { signal, recorded, prefixFirst }: VerifyOptions): Promise<Verified | undefined> {
    const { bytes, fsync } = this.#deps;
    if (!bytes.seal) throw new Error('several nodes need a byte store that can seal (the file-system store)');
    await this.settled();
    signal?.throwIfAborted();
    const copy = await bytes.seal(this.id, attempt, fsync, recorded);
    failpoint('mid-verification');
    try {
      const size = await copy.size();
      if (size !== this.meta.size) return undefined;
      // One node, a store that cannot read back: the chunks are the parts this session recorded,
      // and when its prefix hash covers them (all came here, in order) the copy need not be read.
      const prefix = prefixFirst && this.#deps.verify === 'received' ? await this.#hasher.digest().catch(() => undefined) : undefined;
      return this.#verified(prefix ?? (await digestsOfPartial(copy, size, this.#deps.digests, signal)));
    } finally {
      await copy.release();
    }
  }

  /** Resolves once no frame is being written or recorded. */
  async settled(): Promise<void> {
    while (this.#active.size > 0) await Promise.allSettled([...this.#active]);
  }

  get busy(): boolean {
    return this.#active.size > 0;
  }

  /** Refuses new frames, lets in-flight writes finish, then lets go of the bytes' handle. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.settled();
    await this.#bytes.release();
  }
}
