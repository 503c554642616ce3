/*
 * What `npm pack` ships, what installing it pulls in, and the CLI as installed: a client-only install
 * has none of the server's packages, `upwire upload` works there, and `upwire serve` says what to add.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { md5Of, randomFile, storedPath, tempDir } from '../support/fixtures.js';
import { consumerProject, packedTarball, REPO, run, SERVER_PACKAGES } from '../support/package-project.js';
import { exited, startTestServer } from '../support/server.js';

/** Every file an `exports` map (or a nested condition in it) points at. */
function targets(entry: unknown): string[] {
  if (typeof entry === 'string') return [entry.replace(/^\.\//, '')];
  return Object.values(entry as Record<string, unknown>).flatMap(targets);
}

describe('the npm package', function () {
  this.timeout(120_000);

  it('holds the built library, its declarations, the page, LICENSE and README, and nothing of the tests, bench or CI', async () => {
    const { files } = await packedTarball();
    const unwanted = files.filter((f) => /^(test|bench|\.ci|src|db|uploads|test-artifacts|dist\/test|dist\/bench|dist\/src\/page)\/|\.test\.|\.tgz$/.test(f));
    expect(unwanted, 'files that must not ship').to.deep.equal([]);
    expect(files).to.include.members(['LICENSE', 'README.md', 'package.json', 'dist/public/index.html', 'dist/public/app.js', 'dist/public/hash-worker.js']);
    expect(files.every((f) => f.startsWith('dist/src/') || f.startsWith('dist/public/') || ['LICENSE', 'README.md', 'package.json'].includes(f))).to.equal(true);

    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { exports: unknown; bin: Record<string, string>; types: string; main: string };
    const pointed = [...targets(pkg.exports), ...Object.values(pkg.bin), pkg.types, pkg.main];
    expect(pointed.filter((f) => !files.includes(f)), 'exports, bin, main and types point into the tarball').to.deep.equal([]);
    for (const entry of ['client/node', 'client/browser', 'server/index', 'protocol/index']) {
      expect(files).to.include.members([`dist/src/${entry}.js`, `dist/src/${entry}.d.ts`]);
    }
    expect(files.filter((f) => f.endsWith('.d.ts')).length).to.be.greaterThan(40);
    expect(await readFile(join(REPO, 'LICENSE'), 'utf8')).to.match(/^MIT License\n\nCopyright \(c\) 2026 the upwire authors/);
  });

  it('installs for a client without the server\'s packages, with the hash worker built in', async () => {
    const project = await consumerProject('client');
    const installed = (name: string) => existsSync(join(project, 'node_modules', name, 'package.json'));
    const server = [...SERVER_PACKAGES, 'classic-level', 'abstract-level', 'engine.io'];
    expect(server.filter(installed), 'server packages in a client-only install').to.deep.equal([]);
    expect(['socket.io-client', 'spark-md5', 'ws'].filter((name) => !installed(name))).to.deep.equal([]);
    // The worker's bundle, not an empty placeholder: browser.ts starts it from a Blob URL.
    const worker = await import(join(project, 'node_modules/upwire/dist/src/client/worker-source.js')) as { HASH_WORKER_SOURCE: string };
    expect(worker.HASH_WORKER_SOURCE.length).to.be.greaterThan(5_000);
    expect(worker.HASH_WORKER_SOURCE).to.include('onmessage');
  });

  it('`upwire upload` works from a client-only install; `upwire serve` there names what to install and exits 2', async () => {
    const project = await consumerProject('client');
    const bin = join(project, 'node_modules/.bin/upwire');
    const server = await startTestServer();
    const dir = await tempDir();
    try {
      const file = await randomFile(dir.path, 300_000, 'from-client-install.bin');
      const uploaded = await run(bin, ['upload', file.path, '--url', server.url], { cwd: project, timeoutMs: 30_000 });
      expect(uploaded.code, uploaded.stderr).to.equal(0);
      expect(JSON.parse(uploaded.stdout)).to.include({ md5: file.md5, instant: false });
      expect(md5Of(await readFile(storedPath(server.config.uploadDir, file.md5)))).to.equal(file.md5);

      const serve = await run(bin, ['serve', '--port', '0', '--upload-dir', join(dir.path, 'u'), '--db-dir', join(dir.path, 'db')], { cwd: project, timeoutMs: 30_000 });
      expect(serve.code).to.equal(2);
      expect(serve.stdout).to.equal('');
      expect(serve.stderr).to.match(/^upwire: serve needs the server's packages \([\w.-]+ is missing\): npm install socket\.io level pino pino-pretty prom-client\n$/);
    } finally {
      await server.stop();
      await dir.remove();
    }
  });

  it('the installed CLI answers --version, and --help for each command, without the server\'s packages', async () => {
    const project = await consumerProject('client');
    const bin = join(project, 'node_modules/.bin/upwire');
    const { version } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(await run(bin, ['--version'], { cwd: project })).to.deep.equal({ code: 0, stdout: `${version}\n`, stderr: '' });
    for (const command of ['upload', 'watch', 'serve']) {
      const help = await run(bin, [command, '--help'], { cwd: project });
      expect(help.code, help.stderr).to.equal(0);
      expect(help.stdout).to.match(new RegExp(`^usage: upwire ${command} `));
    }
    expect((await run(bin, ['serve', '--help'], { cwd: project })).stdout).to.match(/^ {2}--max-file-size BYTES .*\(default: 1 TiB\)$/m);
    const unknown = await run(bin, ['upload', '--bogus'], { cwd: project });
    expect(unknown).to.deep.equal({ code: 2, stdout: '', stderr: 'upwire: unknown option --bogus (see upwire upload --help)\n' });
  });

  it('`upwire serve` runs once the server\'s packages are installed beside it', async () => {
    const project = await consumerProject('server');
    const dir = await tempDir();
    let child: ReturnType<typeof spawn> | undefined;
    try {
      child = spawn(join(project, 'node_modules/.bin/upwire'), ['serve', '--port', '0', '--upload-dir', join(dir.path, 'u'), '--db-dir', join(dir.path, 'db')],
        { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
      const ended = exited(child);
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child!.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const match = /listening on (http:\/\/\S+)/.exec(out);
          if (match) resolve(match[1]!);
        });
        void ended.then(({ code }) => reject(new Error(`upwire serve exited with ${code}: ${stderr}`)));
      });
      expect((await fetch(`${url}/healthz`)).status).to.equal(200);
      child.kill('SIGTERM');
      expect((await ended).code, stderr).to.equal(0);
    } finally {
      if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await dir.remove();
    }
  });
});
