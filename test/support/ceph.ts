/*
 * The processes under test/support/radosgw.ts: the configuration of a one-OSD Ceph cluster, its
 * daemons watched for their exit, and the bounded waits on ceph command lines and on radosgw.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

/** A start measures 3.5-17 s on 2 shared cores (the slowest under a load average of 20); this bounds a wedged daemon, not a slow one. */
const START_TIMEOUT_MS = 120_000;
/** Each ceph command line (mkfs, `ceph osd create`, radosgw-admin), killed after this. */
const COMMAND_TIMEOUT_MS = 60_000;

/** Pacific's settings for a one-OSD cluster in `dir`, no authentication, listening on loopback only. */
export function cephConf(dir: string, fsid: string, monPort: number, memstoreBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public addr = 127.0.0.1
ms bind msgr1 = false
ms mon client mode = crc
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
log to stderr = false
mon data = ${dir}/mon
mon allow pool size one = true
mon allow pool delete = true
mon data avail crit = 0
mon data avail warn = 0
mon warn on pool no redundancy = false
paxos propose interval = 0.05
paxos min wait = 0.01
osd data = ${dir}/osd
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd class load list = *
osd class default list = *
client mount timeout = 30
rados mon op timeout = 30
# A monitor whose port was taken exits after 3 tries 1 s apart, not 5 s apart (startRadosgw tries another).
ms bind retry delay = 1
# radosgw-admin runs while the OSD boots: its first writes wait for an osdmap with the OSD up, which
# its objecter asks for at its tick (5 s by default: a 5 s stall in about one start of five).
objecter tick interval = 1
[client.rgw.r]
rgw enable usage log = false
`;
}

export interface Daemon {
  child: ChildProcess;
  /** Set when it has exited: how, its last stderr and the end of its log (the daemons log to files). */
  exited?: string;
  /** Settles when it exits; never rejects. */
  exit: Promise<void>;
}

export function watchDaemon(name: string, child: ChildProcess, logPath: string): Daemon {
  let stderr = '';
  child.stderr!.on('data', (data: Buffer) => (stderr = (stderr + data.toString()).slice(-2000)));
  const d: Daemon = { child, exit: Promise.resolve() };
  d.exit = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      void readFile(logPath, 'utf8').catch(() => '').then((log) => {
        const tail = log.trimEnd().split('\n').slice(-4).join('\n');
        d.exited = `${name} exited with ${code ?? signal}: ${stderr.trim()}\n${tail}`;
        resolve();
      });
    });
    child.once('error', (err) => {
      d.exited = `${name} did not start: ${err.message}`;
      resolve();
    });
  });
  return d;
}

/**
 * Runs a command to completion (stdout), killed after COMMAND_TIMEOUT_MS; fails as soon as the
 * monitor or the OSD exits, since every ceph command line waits on them.
 */
export async function commandLine(path: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string; stdin?: string }, cluster: Daemon[]): Promise<string> {
  const child = execFile(path, args, { env: opts.env, cwd: opts.cwd, timeout: COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL' });
  // A command that does not read its stdin may close it first: its exit status says what happened.
  child.stdin!.once('error', () => {});
  child.stdin!.end(opts.stdin);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (data: Buffer) => (stdout += data.toString()));
  child.stderr!.on('data', (data: Buffer) => (stderr = (stderr + data.toString()).slice(-2000)));
  const done = new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${basename(path)} ${args.join(' ')} exited with ${code ?? signal}${signal === 'SIGKILL' ? ` (over ${COMMAND_TIMEOUT_MS} ms)` : ''}: ${stderr.trim()}`));
    });
  });
  const died = cluster.map((d) => d.exit.then(() => Promise.reject(new Error(d.exited))));
  try {
    return await Promise.race([done, ...died]);
  } finally {
    child.kill('SIGKILL');
  }
}

/** Polls the S3 port until radosgw answers (anonymous ListBuckets: 200); fails at once if a daemon exits. */
export async function untilAnswering(endpoint: string, gateway: Daemon, cluster: Daemon[]): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (true) {
    const dead = [gateway, ...cluster].find((d) => d.exited);
    if (dead) throw new Error(dead.exited);
    try {
      const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`radosgw not answering on ${endpoint} after ${START_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
