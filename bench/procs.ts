import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { peakRssMiB } from '../test/support/procs.js';

export interface Service { url: string; child: ChildProcess }

/** Starts a server process and waits for its "listening on <url>" line. */
export function startService(args: string[], env: Record<string, string> = {}): Promise<Service> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
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
