import { parseMetadata, UpwireError, type FileInfo, type Metadata, type ParsedInit } from '../../protocol/index.js';
import type { Principal } from '../model/principal.js';
import type { ByteStore } from '../bytes/types.js';
import { failpoint } from '../observe/failpoints.js';
import type { UploadEvents } from '../observe/events.js';
import type { UpwireHooks } from '../model/hooks.js';
import type { UploadLedger } from './ledger.js';
import type { Guard } from '../lock/types.js';
import type { Sha256Records } from '../hashing/sha256-records.js';
import type { StoredFiles } from './stored-files.js';
import type { FileEntry, FileRecord, Uploader, UploadMeta, UploadStateStore } from '../store/types.js';

/*
 * The hooks at either end of an upload, and its end: who may create one (onUploadCreate), the
 * verified file stored with its principal's entry, and who is told once it is (onUploadComplete,
 * at least once).
 */

type Hooks = Pick<UpwireHooks, 'onUploadCreate' | 'onUploadComplete'> | undefined;

/** The uploader to record for a principal's upload, as onUploadCreate answers (it throws to refuse). */
export async function uploaderFor(hooks: Hooks, request: ParsedInit, principal: Principal, instant: boolean): Promise<Uploader> {
  const { md5, size, name, type } = request;
  let metadata: Metadata = request.metadata ?? {};
  const verdict = await hooks?.onUploadCreate?.({ principal, md5, size, name, type, metadata, instant });
  if (verdict && verdict.metadata !== undefined) {
    try {
      metadata = parseMetadata(verdict.metadata);
    } catch (err) {
      throw new UpwireError('E_INTERNAL', 'onUploadCreate answered metadata outside the protocol\'s limits', {}, { cause: err });
    }
  }
  return { principal, name, type, ...(Object.keys(metadata).length === 0 ? {} : { metadata }) };
}

export interface CompletionDeps {
  uploads: UploadStateStore;
  bytes: ByteStore;
  stored: StoredFiles;
  ledger: UploadLedger;
  events: Pick<UploadEvents, 'complete'>;
  sha256: Sha256Records;
  hooks?: Hooks;
  /** SHA256=background: a stored file without one is queued for its SHA-256 pass. */
  sha256InBackground: boolean;
}

/**
 * The end of a verified upload, in an order a crash can be finished from (each step is run again
 * by recovery, and each is idempotent): the file stored and recorded with the principal's entry
 * (synced with FSYNC on), then the upload marked completed; then onUploadComplete, and only then
 * the upload's record forgotten. An upload record marked completed (at a start, or on a retry after
 * the hook failed) means the hook may not have run. All of it under the upload's lock.
 */
export class Completions {
  constructor(private readonly deps: CompletionDeps) {}

  async finish(meta: UploadMeta, verified: { attempt?: number; sha256?: string }, guard: Guard): Promise<{ record: FileRecord; entry: FileEntry }> {
    failpoint('before-rename');
    const stored = await this.deps.stored.store(meta, verified, guard);
    failpoint('after-rename');
    await this.deps.uploads.putUpload({ ...meta, completed: true }, guard.fence);
    failpoint('before-complete-hook');
    await this.notify(meta, guard);
    this.deps.events.complete(fileInfo(stored.record), meta.id);
    if (stored.record.sha256 === undefined && this.deps.sha256InBackground) this.deps.sha256.add(meta.md5, meta.size);
    return stored;
  }

  /** onUploadComplete for the upload's principal (its own entry), then the upload is forgotten. */
  async notify(meta: UploadMeta, guard: Guard): Promise<void> {
    const { uploads, bytes, stored, hooks, ledger } = this.deps;
    const hook = hooks?.onUploadComplete;
    if (hook) {
      const record = await stored.record(meta.md5, meta.size);
      if (record) {
        const entry = entryOf(meta.uploader, meta.md5, record.createdAt);
        await hook({ principal: meta.uploader.principal, file: entryInfo(entry, fileInfo(record)), metadata: entry.metadata ?? {} });
      }
    }
    guard.signal.throwIfAborted();
    await uploads.deleteUpload(meta.id, guard.fence);
    await bytes.removePartial(meta.id, meta.handle);
    ledger.remove(meta.id);
  }
}

export function fileInfo({ md5, size, name, type, sha256, metadata }: FileRecord): FileInfo {
  return { md5, size, name, type, url: `/files/${md5}`, ...(sha256 ? { sha256 } : {}), ...(metadata ? { metadata } : {}) };
}

export function entryOf({ principal, name, type, metadata }: Uploader, md5: string, createdAt: number): FileEntry {
  return { owner: principal.id, md5, name, type, createdAt, ...(metadata ? { metadata } : {}) };
}

/** A principal's view of a stored file: the content's size and digests, its own name, type and metadata. */
export function entryInfo(entry: FileEntry, file: FileInfo): FileInfo {
  const { md5, size, url, sha256 } = file;
  return { md5, size, name: entry.name, type: entry.type, url, ...(sha256 ? { sha256 } : {}), ...(entry.metadata ? { metadata: entry.metadata } : {}) };
}
