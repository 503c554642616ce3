import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { SERVER_MALLOC_ENV, SERVER_NODE_FLAGS } from '../src/cli/tuning.js';
import { peakRssMiB } from '../test/support/procs.js';
import { CLI } from '../test/support/server.js';

export interface Service { url: string; child: ChildProcess }

/** Starts a server process and waits for its "listening on <url>" line; `cpus` pins it (taskset). */
export function startService(args: string[], env: Record<string, string> = {}, cpus?: string): Promise<Service> {
  const [command, ...rest] = cpus ? ['taskset', '-c', cpus, process.execPath, ...args] : [process.execPath, ...args];
  const child = spawn(command!, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve({ url: match[1]!, child });
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

/**
 * An upwire server process (`serve` and its arguments) started as `npm start` starts one
 * (src/cli/tuning.ts); `cli` is another build's, `cpus` pins it.
 */
export function startUpwire(args: string[], { cli = CLI, cpus }: { cli?: string; cpus?: string } = {}): Promise<Service> {
  return startService([...SERVER_NODE_FLAGS, cli, 'serve', ...args], SERVER_MALLOC_ENV, cpus);
}

export { peakRssMiB };

/** Stops a service and returns its peak RSS. */
export async function stopService(service: Service): Promise<number> {
  const peak = await peakRssMiB(service.child.pid!);
  const exited = new Promise((resolve) => service.child.once('exit', resolve));
  service.child.kill('SIGTERM');
  await exited;
  return peak;
}

/** Runs a command to completion; wall seconds and stdout. Fails on a non-zero exit. */
export function timed(command: string, args: string[], env: Record<string, string> = {}): Promise<{ seconds: number; stdout: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.slice(0, 3).join(' ')}… failed: ${stderr.slice(-500)}`));
      else resolve({ seconds: (performance.now() - started) / 1000, stdout });
    });
  });
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds (user, system) of a live process, from /proc/<pid>/stat. */
export async function cpuOf(pid: number): Promise<{ user: number; system: number }> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /, '').split(' ');
  return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND };
}

/** CPU seconds of this process's children that have exited (cutime, cstime): read before and after a run. */
export async function childrenCpu(): Promise<{ user: number; system: number }> {
  const fields = (await readFile('/proc/self/stat', 'utf8')).replace(/^.*\) /, '').split(' ');
  return { user: Number(fields[13]) / TICKS_PER_SECOND, system: Number(fields[14]) / TICKS_PER_SECOND };
}
