import { UpwireError } from '../../protocol/index.js';
import type { ByteStore, ByteStoreCapabilities } from '../bytes/types.js';
import type { LedgerEntry, UploadLedger } from './ledger.js';

export interface CreationLimitsConfig {
  /** Partial uploads the server keeps at once, and per client address. */
  maxUploads: number;
  maxUploadsPerAddress: number;
}

/** An upload reserves the bytes it still needs while bytes flow for it: for this long after the last. */
export const RESERVATION_MS = 5 * 60_000;
/** An upload of the same md5 with another size is given up to a new init after this long without bytes. */
export const CONFLICT_IDLE_MS = 60_000;
/** What a refusal for the caps asks a client to wait. */
const CAP_RETRY_MS = 5000;

/**
 * Whether a new upload may be created: the caps on partial uploads (an init costs a record, so the
 * number is bounded per address and in all), and the disk space, counted so that an init alone
 * blocks nobody: the space promised is what the uploads that are receiving bytes still need.
 */
export class CreationLimits {
  constructor(
    private readonly ledger: UploadLedger,
    private readonly bytes: ByteStore,
    private readonly limits: CreationLimitsConfig,
  ) {}

  /**
   * Takes a place for a new upload under the caps, or refuses; synchronous, so that inits racing
   * each other cannot all pass. The caller adds the upload to the ledger before it awaits anything.
   */
  checkCaps(address: string | undefined): void {
    const { maxUploads, maxUploadsPerAddress } = this.limits;
    if (this.ledger.size >= maxUploads) {
      throw new UpwireError('E_BUSY', `the server keeps at most ${maxUploads} partial uploads; retry later`, { retryAfterMs: CAP_RETRY_MS });
    }
    if (address !== undefined && this.ledger.countFor(address) >= maxUploadsPerAddress) {
      throw new UpwireError('E_RATE_LIMIT', `at most ${maxUploadsPerAddress} partial uploads per client address; finish or abort some first`, { retryAfterMs: CAP_RETRY_MS });
    }
  }

  /** Whether `size` more bytes fit besides what the uploads receiving bytes still need (the new one, just added, receives none yet). */
  async checkSpace(size: number, now = Date.now()): Promise<void> {
    const free = await this.bytes.freeBytes();
    const reserved = this.ledger.reserved(now, RESERVATION_MS);
    if (size > free - reserved) {
      throw new UpwireError('E_NO_SPACE', `${size} bytes do not fit in the ${free} bytes free on the server (${reserved} still needed by uploads receiving bytes)`, { free, reserved });
    }
  }

  /**
   * An init for an md5 that is partly uploaded with another size. Only one can be the file, and the
   * md5 check at merge tells which; a squatter must not lock the true size out: the upload in the
   * way is given up at once if it never received a byte, else once no bytes came for it for
   * CONFLICT_IDLE_MS. Until then the new init is told to come back (E_CONFLICT, retryable), which
   * honest clients do.
   */
  conflict(existing: LedgerEntry | undefined, now = Date.now()): 'replace' | UpwireError {
    if (!existing || existing.lastBytes === 0) return 'replace';
    const idle = now - existing.lastBytes;
    if (idle >= CONFLICT_IDLE_MS) return 'replace';
    const retryAfterMs = CONFLICT_IDLE_MS - idle;
    return new UpwireError('E_CONFLICT', `an upload of this md5 with size ${existing.size} is receiving bytes; retry in ${retryAfterMs} ms`, { size: existing.size, retryAfterMs });
  }
}

/**
 * E_TOO_LARGE for a file above MAX_FILE_SIZE or above what the byte store can hold (its largest part
 * times its most parts): at init, and at the preflight, before the client reads the file.
 */
export function checkFileSize(size: number, maxFileSize: number, { maxPartSize, maxParts }: Pick<ByteStoreCapabilities, 'maxPartSize' | 'maxParts'>): void {
  const limit = Math.min(maxFileSize, maxPartSize * maxParts);
  if (size > limit) throw new UpwireError('E_TOO_LARGE', `size ${size} is above the limit of ${limit} bytes`, { maxFileSize: limit });
}
