import type { ByteStore } from '../bytes/types.js';
import type { Completions } from './completion.js';
import type { ServerConfig } from '../config/config.js';
import type { UploadEvents } from '../observe/events.js';
import type { UploadLedger } from './ledger.js';
import { withLock, type Guard, type Locker } from '../lock/types.js';
import type { OpenUploads } from './open-uploads.js';
import type { StoredFiles } from './stored-files.js';
import type { FileIndex, UploadMeta, UploadStateStore } from '../store/types.js';

/** The lock the node that sweeps holds, with several nodes (not an upload id: those are hex). */
const SWEEPER_KEY = 'sweeper';

export interface UpkeepDeps {
  uploads: UploadStateStore;
  files: FileIndex;
  bytes: ByteStore;
  locker: Locker;
  events: UploadEvents;
  config: Pick<ServerConfig, 'partialTtlMs' | 'emptyTtlMs'>;
  ledger: UploadLedger;
  open: OpenUploads;
  stored: StoredFiles;
  completions: Completions;
  /** Several nodes share the stores: recovery runs in the background, and one node at a time sweeps. */
  severalNodes: boolean;
  perPrincipal: boolean;
}

/**
 * What the server does on its own: at start, finishing what a crash interrupted; then, every so
 * often, forgetting partial uploads left alone too long and sessions idle in memory.
 */
export class Upkeep {
  readonly #deps: UpkeepDeps;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(deps: UpkeepDeps) {
    this.#deps = deps;
  }

  /** Recovers (with several nodes, in the background), then starts the sweeper. */
  async start(): Promise<void> {
    // With several nodes, the other nodes' uploads are recovered in the background: a lease held by a
    // node that died blocks its upload for the lease's life, and must not delay this node's start.
    const recovery = this.#recoverAll();
    if (this.#deps.severalNodes) void recovery.catch((err: unknown) => this.#deps.events.failed?.(err, 'recovery at start'));
    else await recovery;
    const { partialTtlMs, emptyTtlMs } = this.#deps.config;
    const every = Math.max(250, Math.min(partialTtlMs / 2, emptyTtlMs / 2, 60_000));
    this.#sweeper = setInterval(() => void this.sweep().catch(() => {}), every).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  async #recoverAll(): Promise<void> {
    const { uploads, files, ledger, stored } = this.#deps;
    for await (const meta of uploads.listUploads()) {
      // Under the lock: with several nodes another node may be merging or recovering the same upload.
      const partial = await this.#locked(meta.id, (guard) => this.#recover(meta, guard));
      if (partial) ledger.add(partial);
    }
    for await (const record of files.listFiles()) await stored.intact(record);
  }

  /**
   * A crash can stop a merge between its steps (each is idempotent, see Completions): verified but
   * not stored, stored but not recorded, recorded but the hook not told. Only an upload whose own
   * bytes were verified is finished into a stored file: that some file of the same md5 is stored
   * says nothing of whose bytes this upload holds. Answers the upload when it stays partial.
   */
  async #recover(listed: UploadMeta, guard: Guard): Promise<UploadMeta | undefined> {
    const { uploads, bytes, completions, perPrincipal } = this.#deps;
    const meta = (await uploads.getUpload(listed.id)) ?? listed;
    if (meta.completed) {
      await completions.notify(meta, guard);
      return undefined;
    }
    const storedAtSize = (await bytes.storedSize(meta.md5)) === meta.size;
    if (meta.verified) {
      if (storedAtSize) {
        await completions.finish(meta, meta.verified, guard);
        return undefined;
      }
      // Not committed yet: back to receiving, and the client's next merge verifies it again.
      const { verified: _, ...receiving } = meta;
      await uploads.putUpload(receiving, guard.fence);
      return receiving;
    }
    // A merge of a version before the `verified` step, in one store for everyone (one upload per md5 then):
    // only verified bytes were ever moved into the store, so stored bytes are this upload's.
    if (!perPrincipal && meta.id === meta.md5 && storedAtSize) {
      await completions.finish(meta, {}, guard);
      return undefined;
    }
    return meta;
  }

  /**
   * Forgets partial uploads untouched for PARTIAL_TTL, and those that never received a byte after
   * EMPTY_TTL (an init costs a record; a new init of the same upload does not renew this clock), and
   * drops sessions idle for a while from memory.
   */
  async sweep(now = Date.now()): Promise<void> {
    if (this.#deps.severalNodes) await this.#sweepAsOneNode(now);
    else await this.#sweepLedger(now);
    for (const session of this.#deps.open.idle(now)) await this.#locked(session.id, () => this.#deps.open.unload(session));
  }

  async #sweepLedger(now: number): Promise<void> {
    const { partialTtlMs, emptyTtlMs } = this.#deps.config;
    for (const entry of [...this.#deps.ledger.entries()]) {
      const session = this.#deps.open.get(entry.id);
      if (session?.busy) continue;
      const stale = now - Math.max(entry.lastSeen, session?.lastActive ?? 0) >= partialTtlMs;
      const empty = entry.received === 0 && now - Math.max(entry.createdAt, entry.lastBytes) >= emptyTtlMs;
      if (stale || empty) await this.#expire(entry.id, entry.md5);
    }
  }

  /**
   * Several nodes: the node that holds the sweeper's lease expires what the store lists, by the
   * store's clock of the last chunk (an init seen by another node does not renew it); the others skip.
   */
  async #sweepAsOneNode(now: number): Promise<void> {
    const lease = await this.#deps.locker.acquire(SWEEPER_KEY, AbortSignal.timeout(100)).catch(() => undefined);
    if (!lease) return;
    try {
      const { partialTtlMs, emptyTtlMs } = this.#deps.config;
      for await (const meta of this.#deps.uploads.listUploads()) {
        if (lease.signal.aborted) return;
        const session = this.#deps.open.get(meta.id);
        if (session?.busy || meta.completed) continue;
        const seen = Math.max(meta.updatedAt, this.#deps.ledger.get(meta.id)?.lastSeen ?? 0, session?.lastActive ?? 0);
        const empty = (meta.received ?? 0) === 0 && now - meta.createdAt >= emptyTtlMs;
        if (now - seen >= partialTtlMs || empty) await this.#expire(meta.id, meta.md5);
      }
    } finally {
      await lease.release();
    }
  }

  async #expire(id: string, md5: string): Promise<void> {
    await this.#locked(id, async (guard) => {
      if (await this.#deps.open.forget(id, guard.fence)) this.#deps.events.ended({ id, md5, reason: 'expired' });
    });
  }

  #locked<T>(id: string, task: (guard: Guard) => Promise<T>): Promise<T> {
    return withLock(this.#deps.locker, id, task);
  }
}
