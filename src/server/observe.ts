import type { PartialStatus, RequestName } from '../protocol/index.js';
import type { UploadEvents } from './events.js';
import type { AnswerObserver } from './handlers.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

/** Logs one line per upload lifecycle answer (init, resume, instant, complete, abort, refusal) and counts refusals. */
export function observeAnswers(log: Logger, metrics: Metrics): AnswerObserver {
  return (event, socket, request, result) => {
    const md5 = typeof (request as { md5?: unknown } | undefined)?.md5 === 'string' ? (request as { md5: string }).md5.toLowerCase() : undefined;
    const context = { md5, conn: socket.id, addr: socket.handshake.address };
    if (!result.ok) {
      metrics.failed(result.error.code);
      log.warn({ ...context, event, code: result.error.code }, `${event} refused: ${result.error.message}`);
      return;
    }
    const lifecycle = LIFECYCLE[event];
    if (!lifecycle) return;
    const outcome = lifecycle(result as object);
    log.info({ ...context, event: outcome }, `${outcome} ${md5}`);
  };
}

const LIFECYCLE: Partial<Record<RequestName, (answer: object) => string>> = {
  init: (answer) => {
    if ((answer as { status: string }).status === 'complete') return 'instant';
    const { missing, total } = answer as PartialStatus;
    return missing.length === 1 && missing[0]![0] === 0 && missing[0]![1] === total ? 'init' : 'resume';
  },
  merge: () => 'complete',
  abort: () => 'abort',
};

/** Lifecycle events that no request answers: expiry, and a failed verification. */
export function logEndings(log: Logger): Partial<UploadEvents> {
  return {
    ended: ({ md5, reason, code }) => {
      if (reason !== 'aborted') log.info({ md5, event: reason, code }, `${reason} ${md5}`);
    },
  };
}
