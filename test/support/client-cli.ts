import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './server.js';

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Killed by the test's timeout: the CLI hung. */
  timedOut: boolean;
  ms: number;
}

export interface CliProcess {
  child: ChildProcess;
  /** Everything written so far. */
  out: { stdout: string; stderr: string };
  exited: Promise<CliExit>;
}

/**
 * `upwire <args>` in a child process, killed (SIGKILL) after `timeoutMs` so a CLI that hangs fails
 * its test instead of the suite. `nodeArgs` go to node itself (a small heap, say).
 */
export function spawnCli(args: string[], options: { nodeArgs?: string[]; timeoutMs?: number } = {}): CliProcess {
  const { nodeArgs = [], timeoutMs = 30_000 } = options;
  const started = Date.now();
  const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  // 'close', not 'exit': the output is complete only once the pipes are closed.
  const exited = new Promise<CliExit>((resolve) => child.once('close', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, timedOut, ms: Date.now() - started });
  }));
  return { child, out, exited };
}

/** Runs the CLI to its end. */
export async function runCli(args: string[], options: { nodeArgs?: string[]; timeoutMs?: number } = {}): Promise<CliExit & { stdout: string; stderr: string }> {
  const run = spawnCli(args, options);
  const exit = await run.exited;
  return { ...exit, ...run.out };
}
