import type { PartialStatus, RequestName } from '../../protocol/index.js';
import type { UploadEvents } from '../observe/events.js';
import type { AnswerObserver } from './register.js';
import { TokenBucket } from './connection-limits.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';

const MD5_PATTERN = /^[0-9a-f]{32}$/i;
/** Refusals logged per connection: a few a second, in bursts of 20; the rest are counted, then summed up in one line. */
const REFUSALS_LOGGED_PER_SECOND = 5;
const REFUSALS_BURST = 20;

/**
 * Logs one line per upload lifecycle answer (init, resume, instant, complete, abort, refusal) and
 * counts refusals. What a client sent is logged only once validated (an md5 of the right shape),
 * else as a short excerpt with its length, and refusals are rate-limited per connection: a client
 * sending junk must not be able to fill the disk with the log.
 */
export function observeAnswers(log: Logger, metrics: Metrics): AnswerObserver {
  const refusals = new WeakMap<object, { bucket: TokenBucket; suppressed: number }>();
  return (event, socket, request, result) => {
    const raw = (request as { md5?: unknown } | undefined)?.md5;
    const md5 = typeof raw === 'string' && MD5_PATTERN.test(raw) ? raw.toLowerCase() : undefined;
    const context = { md5, conn: socket.id, addr: (socket.data as { address?: string }).address ?? socket.handshake.address };
    if (!result.ok) {
      metrics.refused(result.error.code);
      let limit = refusals.get(socket);
      if (!limit) refusals.set(socket, (limit = { bucket: new TokenBucket(REFUSALS_LOGGED_PER_SECOND, REFUSALS_BURST), suppressed: 0 }));
      if (limit.bucket.take() > 0) {
        limit.suppressed++;
        return;
      }
      const invalid = md5 === undefined && raw !== undefined ? { md5Given: excerpt(raw) } : {};
      const skipped = limit.suppressed > 0 ? { refusalsNotLogged: limit.suppressed } : {};
      limit.suppressed = 0;
      log.warn({ ...context, ...invalid, ...skipped, event, code: result.error.code }, `${event} refused: ${result.error.message}`);
      return;
    }
    const lifecycle = LIFECYCLE[event];
    if (!lifecycle) return;
    const outcome = lifecycle(result as object);
    log.info({ ...context, event: outcome }, `${outcome} ${md5}`);
  };
}

/** At most 40 characters of something a client sent, with its length. */
function excerpt(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return text.length <= 40 ? text : `${text.slice(0, 40)}… (${text.length} chars)`;
}

const LIFECYCLE: Partial<Record<RequestName, (answer: object) => string>> = {
  init: (answer) => {
    const { status } = answer as { status: string };
    if (status === 'complete') return 'instant';
    if (status === 'prove') return 'challenge';
    const { missing, total } = answer as PartialStatus;
    return missing.length === 1 && missing[0]![0] === 0 && missing[0]![1] === total ? 'init' : 'resume';
  },
  prove: () => 'instant',
  merge: () => 'complete',
  abort: () => 'abort',
};

/** Lifecycle events that no request answers: expiry, a failed verification, a stored file found gone. */
export function logEndings(log: Logger): Partial<UploadEvents> {
  return {
    ended: ({ md5, reason, code }) => {
      if (reason !== 'aborted') log.info({ md5, event: reason, code }, `${reason} ${md5}`);
    },
    deleted: ({ md5, stored }) => log.info({ md5, event: 'deleted', stored }, `deleted ${md5}${stored ? ' (an entry; the content stays for others)' : ''}`),
    failed: (err, what) => log.error({ err }, `${what} failed`),
    lost: ({ md5, size }) => log.warn({ md5, event: 'lost' }, `the stored file ${md5} (${size} bytes) is gone or damaged: its record was dropped, and it can be uploaded again`),
  };
}
