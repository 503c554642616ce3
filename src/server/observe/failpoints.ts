/*
 * Crash points for fault-injection tests. Inert unless UPWIRE_FAILPOINT names one, optionally with
 * the hit to act on (`after-chunk-bytes:5`) and what to do there: `crash` (the default: the process
 * kills itself with SIGKILL, as a power cut or the OOM killer would, with no chance to clean up) or
 * `stop` (it stops itself with SIGSTOP, as a node that stalls does, until the test sends SIGCONT).
 */
export type Failpoint =
  | 'after-init-state' // the new upload's state is in LevelDB, the answer not sent
  | 'mid-chunk-write' // half of a chunk's bytes are in the temp file
  | 'after-chunk-bytes' // a chunk's bytes are written, its index not recorded
  | 'after-chunk-index' // the index is recorded, the ack not sent
  | 'before-rename' // verified, the temp file not yet moved into the store
  | 'after-rename' // in the store, the file record not yet written
  | 'before-complete-hook' // recorded and marked completed, onUploadComplete not yet called
  | 'mid-verification'; // several nodes: a merge sealed its copy and holds its lock, the hash pass not begun

const [armed, at = '1', action = 'crash'] = (process.env.UPWIRE_FAILPOINT ?? '').split(':');
let hits = 0;

/** True when this hit of `name` is the one to crash on (call crash() there). */
export function reached(name: Failpoint): boolean {
  return armed === name && ++hits === Number(at);
}

export function crash(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL');
}

/** Crashes (or stops) here when armed for this point. */
export function failpoint(name: Failpoint): void {
  if (armed === undefined || !reached(name)) return;
  if (action === 'stop') process.kill(process.pid, 'SIGSTOP');
  else crash();
}
