/*
 * Where a Chromium's CPU goes: every thread of every process under its first one, from
 * /proc/<pid>/task/<tid>/stat, named by the process's role (--type, the utility's sub-type) and
 * the thread's name. Two readings, before and after an upload, give CPU seconds per thread.
 */
import { readdir, readFile } from 'node:fs/promises';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/**
 * CPU seconds so far, by "pid/tid" for each thread and by "pid" for each process (its threads that
 * ended included: the hash worker's, say), with the role its time is counted under.
 */
export type CpuReading = Map<string, { role: Role; seconds: number }>;

/** The roles a reading is summed into, in the order the bench reports them. */
export const ROLES = ['page main thread', 'page workers', 'page other', 'network service', 'browser process', 'other'] as const;
export type Role = (typeof ROLES)[number];

async function readOr(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

/** The processes under `root` (itself included), from each process's parent. */
async function tree(root: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readOr(`/proc/${name}/stat`);
    if (stat) parents.set(Number(name), Number(stat.replace(/^.*\) /, '').split(' ')[1]));
  }
  const found = [root];
  for (let i = 0; i < found.length; i++) for (const [pid, parent] of parents) if (parent === found[i]) found.push(pid);
  return found;
}

function roleOf(commandLine: string, thread: string | undefined): Role {
  const type = /--type=([\w-]+)/.exec(commandLine)?.[1];
  if (type === 'renderer') {
    // A renderer's threads that ended were, in these pages, a worker's: the hash worker ends when it is done.
    if (thread === undefined) return 'page workers';
    if (thread === 'chromium' || thread === 'CrRendererMain') return 'page main thread';
    return thread.startsWith('DedicatedWorker') ? 'page workers' : 'page other';
  }
  if (type === 'utility' && commandLine.includes('NetworkService')) return 'network service';
  if (type === undefined) return 'browser process';
  return 'other';
}

export async function readCpu(root: number): Promise<CpuReading> {
  const reading: CpuReading = new Map();
  for (const pid of await tree(root)) {
    const commandLine = (await readOr(`/proc/${pid}/cmdline`))?.replaceAll('\0', ' ') ?? '';
    const process = await readOr(`/proc/${pid}/stat`);
    if (process) reading.set(`${pid}`, { role: roleOf(commandLine, undefined), seconds: cpuSeconds(process) });
    const tids = await readdir(`/proc/${pid}/task`).catch(() => []);
    for (const tid of tids) {
      const stat = await readOr(`/proc/${pid}/task/${tid}/stat`);
      if (stat) reading.set(`${pid}/${tid}`, { role: roleOf(commandLine, /\((.*)\)/.exec(stat)?.[1] ?? ''), seconds: cpuSeconds(stat) });
    }
  }
  return reading;
}

/** utime + stime of a /proc stat line. */
function cpuSeconds(stat: string): number {
  const fields = stat.replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/**
 * CPU seconds by role between two readings: each live thread's, and what a process used beyond its
 * live threads (threads that ended in between). Read before closing: a process gone is not counted.
 */
export function cpuBetween(before: CpuReading, after: CpuReading): Record<Role, number> {
  const byRole = Object.fromEntries(ROLES.map((role) => [role, 0])) as Record<Role, number>;
  const delta = (id: string) => Math.max(0, after.get(id)!.seconds - (before.get(id)?.seconds ?? 0));
  const ofThreads = new Map<string, number>();
  for (const [id, { role }] of after) {
    const [pid, tid] = id.split('/');
    if (tid === undefined) continue;
    byRole[role] += delta(id);
    ofThreads.set(pid!, (ofThreads.get(pid!) ?? 0) + delta(id));
  }
  for (const [id, { role }] of after) if (!id.includes('/')) byRole[role] += Math.max(0, delta(id) - (ofThreads.get(id) ?? 0));
  return byRole;
}
