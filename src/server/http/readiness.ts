import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Access } from '../access/access.js';
import type { ByteStore } from '../bytes/types.js';
import type { FileIndex } from '../store/types.js';
import { hasToken, mayReadMetrics, principalOf } from './caller.js';
import type { Target } from './request-target.js';
import { sendJson } from './responses.js';

export interface ReadinessDeps {
  files: FileIndex;
  bytes: ByteStore;
  access: Access;
  trustProxy: number;
  /** Told when a check fails (once per new failure, not per probe), for a warning in the log. */
  log?: (message: string, details: Record<string, unknown>) => void;
}

type Checks = { database: string; disk: string };

/**
 * GET /readyz: 200 when the file index answers a read and the byte store has room for a write;
 * 503 otherwise. Anyone gets `{ ok }` (a load balancer needs no more); what failed, whose text may
 * name paths, only a caller who may read /metrics, under the same host rule. A failing check is
 * logged when what fails changes: a probe every few seconds, or anyone's, must not fill the log.
 */
export function readiness(deps: ReadinessDeps): (req: IncomingMessage, res: ServerResponse, target: Target) => Promise<void> {
  let last = 'ok';
  const note = (checks: Checks) => {
    const now = checks.database === 'ok' && checks.disk === 'ok' ? 'ok' : JSON.stringify(checks);
    if (now !== last && now !== 'ok') deps.log?.('not ready: a readiness check fails', checks);
    last = now;
  };
  return async (req, res, target) => {
    const { access } = deps;
    const [database, disk, principal] = await Promise.all([
      check(() => deps.files.getFile('0'.repeat(32))),
      check(async () => {
        await deps.bytes.ready?.();
        if ((await deps.bytes.freeBytes()) <= 0) throw new Error('no free space');
      }),
      // With an authorize hook, only a probe that names itself with a token is authorized (a load
      // balancer's never waits on a hook); a refused or failing authorization is an anonymous probe.
      access.hostAllowed(req.headers) && (!access.perPrincipal || hasToken(req, target))
        ? principalOf(req, target, access, deps.trustProxy).catch(() => undefined)
        : undefined,
    ]);
    note({ database, disk });
    const ok = database === 'ok' && disk === 'ok';
    sendJson(res, ok ? 200 : 503, principal && mayReadMetrics(principal, access) ? { ok, checks: { database, disk } } : { ok });
  };
}

/** 'ok', or what failed (at most 200 characters). */
async function check(probe: () => Promise<unknown>): Promise<string> {
  try {
    await probe();
    return 'ok';
  } catch (err) {
    return (err as Error).message.slice(0, 200);
  }
}
