/*
 * upwire as its users get it: this repository packed by `npm pack` (from the dist/ that `npm run
 * build` left), installed into empty projects in temp directories. The tarball and each project are
 * made once per mocha process, whichever package-* suite asks first, and removed when it exits.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root (this file runs from dist/test/support/). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** The optional peer dependencies a server user installs beside upwire. */
export const SERVER_PACKAGES = ['socket.io', 'level', 'pino', 'pino-pretty', 'prom-client'];

export interface Run { code: number | null; stdout: string; stderr: string }

const made: string[] = [];
process.on('exit', () => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function scratch(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/**
 * A command, killed after `timeoutMs`. npm's own variables are dropped from the environment: under
 * `npm test` they describe this repository (npm_config_*, npm_package_*) and would leak into the
 * npm that installs a temp project.
 */
export function run(file: string, args: string[], options: { cwd: string; timeoutMs?: number; env?: Record<string, string> }): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  return new Promise((resolve) => {
    execFile(file, args, { cwd: options.cwd, env: { ...env, ...options.env }, timeout: options.timeoutMs ?? 90_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({
        code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
        stdout,
        // A command killed for its time says so: an empty failure tells nothing.
        stderr: err?.killed ? `${stderr}(killed after ${options.timeoutMs ?? 90_000} ms)` : stderr,
      }));
  });
}

async function npm(args: string[], cwd: string): Promise<string> {
  const result = await run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd });
  if (result.code !== 0) throw new Error(`npm ${args.join(' ')} failed (${result.code}): ${result.stderr.slice(-2000)}`);
  return result.stdout;
}

export interface Tarball { path: string; files: string[] }

let tarball: Promise<Tarball> | undefined;

/** `npm pack` of this repository as it is built; scripts are not run (the tests run after the build). */
export function packedTarball(): Promise<Tarball> {
  tarball ??= (async () => {
    const dir = scratch('upwire-pack-');
    const [packed] = JSON.parse(await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], REPO)) as [{ filename: string; files: { path: string }[] }];
    return { path: join(dir, packed.filename), files: packed.files.map((f) => f.path) };
  })();
  return tarball;
}

export type ProjectKind = 'client' | 'server';
const projects = new Map<ProjectKind, Promise<string>>();

/**
 * An empty ESM project with upwire installed from the tarball: 'client' installs it alone (what a
 * user of the uploader gets), 'server' beside SERVER_PACKAGES, as a server user is told to.
 */
export function consumerProject(kind: ProjectKind): Promise<string> {
  let project = projects.get(kind);
  if (!project) {
    project = (async () => {
      const dir = scratch(`upwire-${kind}-project-`);
      await writeFile(join(dir, 'package.json'), JSON.stringify({ name: `${kind}-app`, version: '1.0.0', private: true, type: 'module' }));
      const { path } = await packedTarball();
      // The server's declarations use Node's types (through socket.io's): pinned to the Node this
      // repository supports, not whichever @types/node engine.io's ">=10" would fetch.
      const extra = kind === 'server' ? [...SERVER_PACKAGES, '@types/node@20'] : [];
      await npm(['install', path, ...extra, '--omit=dev'], dir);
      return dir;
    })();
    projects.set(kind, project);
  }
  return project;
}
