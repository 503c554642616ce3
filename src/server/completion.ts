import { parseMetadata, UpwireError, type FileInfo, type Metadata, type ParsedInit } from '../protocol/index.js';
import type { Principal } from './access.js';
import type { ByteStore } from './bytes/types.js';
import type { UpwireHooks } from './hooks.js';
import type { FileEntry, FileIndex, FileRecord, Uploader, UploadMeta, UploadStateStore } from './store/types.js';

/*
 * The records around a stored file, and the hooks at either end of an upload: who may create one
 * (onUploadCreate), and who is told once it is stored (onUploadComplete, at least once).
 */

type Hooks = Pick<UpwireHooks, 'onUploadCreate' | 'onUploadComplete'> | undefined;

/** onUploadCreate's verdict on a principal's upload: refused (it throws), or the uploader to record. */
export async function admitUploader(hooks: Hooks, request: ParsedInit, principal: Principal, instant: boolean): Promise<Uploader> {
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
  files: FileIndex;
  bytes: ByteStore;
  hooks?: Hooks;
  fsync: boolean;
}

/**
 * The end of an upload, in an order a crash can be finished from: the file's record and each
 * uploader's entry (synced with FSYNC on), then the upload marked completed; then onUploadComplete
 * for each uploader, and only then the upload's record forgotten. An upload record found beside its
 * file record (at a start, or on a retry after a hook failed) means the hooks may not have run.
 */
export class Completions {
  constructor(private readonly deps: CompletionDeps) {}

  /** Records the verified file and its uploaders' entries, and marks the upload completed. */
  async record(meta: UploadMeta, sha256?: string): Promise<FileRecord> {
    const { files, uploads, fsync } = this.deps;
    const record: FileRecord = {
      md5: meta.md5, size: meta.size, name: meta.name, type: meta.type, createdAt: Date.now(),
      ...(sha256 ? { sha256 } : {}), ...(meta.metadata ? { metadata: meta.metadata } : {}),
    };
    await files.putFile(record, fsync);
    for (const uploader of meta.uploaders ?? []) await files.putEntry(entryOf(uploader, meta.md5, record.createdAt), fsync);
    await uploads.putUpload({ ...meta, completed: true });
    return record;
  }

  /** After a crash: the entries of a recorded file that are not written yet. */
  async restoreEntries(meta: UploadMeta): Promise<void> {
    const { files, fsync } = this.deps;
    for (const uploader of meta.uploaders ?? []) {
      if (!(await files.getEntry(uploader.principal.id, meta.md5))) await files.putEntry(entryOf(uploader, meta.md5, Date.now()), fsync);
    }
  }

  /** onUploadComplete for each uploader, then the upload is forgotten (call under the md5's lock). */
  async notify(meta: UploadMeta): Promise<void> {
    const { files, uploads, bytes, hooks } = this.deps;
    const hook = hooks?.onUploadComplete;
    const record = hook && (await files.getFile(meta.md5));
    if (hook && record) {
      for (const uploader of meta.uploaders ?? []) {
        const entry = (await files.getEntry(uploader.principal.id, meta.md5)) ?? entryOf(uploader, meta.md5, record.createdAt);
        await hook({ principal: uploader.principal, file: entryInfo(entry, fileInfo(record)), metadata: entry.metadata ?? {} });
      }
    }
    await uploads.deleteUpload(meta.md5);
    await bytes.removePartial(meta.md5);
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
