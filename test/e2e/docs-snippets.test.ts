/*
 * Every code block of README.md and docs/*.md is checked here, or is a file that is checked elsewhere:
 * - ```ts blocks are type-checked with this repository's tsc as a user's project compiles them
 *   (`'upwire'` resolves to this package by its own name, through package.json "exports"): under
 *   NodeNext with Node's types and no DOM; ```ts browser blocks under Bundler with the DOM and no
 *   Node types. A `<!-- context: ... -->` comment right before a block declares the application's
 *   own pieces that the block calls (sessions, a database): compiled with it, not shown.
 * - ```ts server blocks are also run, as written, from a temp directory with PORT=0: the Node
 *   client uploads a file to the URL the block prints, and the stored bytes must be the file's.
 * - a ```ts block that is a file of examples/ verbatim is compiled by the build and run by
 *   embed.test.ts (which checks the quote).
 * - the ```nginx block is deploy/nginx.conf without its comments (nginx-prefix.test.ts runs that file).
 * Blocks without a language (shell commands, output, the tree) are not code.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { upload } from '../../src/client/node.js';
import { randomFile, storedPath, tempDir } from '../support/fixtures.js';
import { REPO, run } from '../support/package-project.js';
import { exited } from '../support/server.js';

interface Block { where: string; lang: string; tags: string[]; code: string; context: string }

/** The fenced blocks of README.md and docs/*.md, with the line each starts on. */
function blocks(): Block[] {
  const pages = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
  const found: Block[] = [];
  for (const page of pages) {
    const text = readFileSync(join(REPO, page), 'utf8');
    for (const match of text.matchAll(/(?:<!-- context:[^\n]*\n([\s\S]*?)-->\n)?```([^\n]*)\n([\s\S]*?)```/g)) {
      const [lang = '', ...tags] = match[2]!.trim().split(/\s+/);
      const line = text.slice(0, match.index + match[0].indexOf('```')).split('\n').length;
      found.push({ where: `${page}:${line}`, lang, tags, code: match[3]!, context: match[1] ?? '' });
    }
  }
  return found;
}

const examples = ['express.ts', 'node-http.ts', 'socket-io.ts'].map((name) => readFileSync(join(REPO, 'examples', name), 'utf8'));
const isExample = (block: Block) => examples.some((source) => source.trimEnd() === block.code.trimEnd());
const fileName = (block: Block) => `${block.where.replace(/[^\w]+/g, '-')}.ts`;

/** A project directory inside this repository, so that `upwire` resolves to it by its own name. */
function snippetDir(): string {
  return mkdtempSync(join(REPO, 'dist', 'doc-snippets-'));
}

async function typeCheck(dir: string, name: string, checked: Block[], compilerOptions: Record<string, unknown>): Promise<string> {
  const sub = join(dir, name);
  await mkdir(sub);
  await Promise.all(checked.map((block) => writeFile(join(sub, fileName(block)), `${block.context}${block.code}`)));
  const options = { target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, ...compilerOptions };
  await writeFile(join(sub, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, files: checked.map(fileName) }, null, 2));
  const result = await run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(sub, 'tsconfig.json')], { cwd: sub, timeoutMs: 240_000 });
  return result.code === 0 ? '' : `${name}: ${result.stdout}${result.stderr}`;
}

describe('the code in README.md and docs/', function () {
  this.timeout(300_000);
  const all = blocks();
  const typescript = all.filter((block) => block.lang === 'ts' && !isExample(block));
  let dir: string;

  before(() => {
    dir = snippetDir();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has code blocks of known kinds only, and the ones the docs promise', () => {
    expect(all.filter((b) => !['', 'ts', 'nginx'].includes(b.lang) || b.tags.some((t) => !['browser', 'server'].includes(t))).map((b) => b.where)).to.deep.equal([]);
    // The README's two snippets: the browser one and the Express one (run below).
    expect(typescript.filter((b) => b.where.startsWith('README.md')).map((b) => b.tags.join())).to.deep.equal(['browser', 'server']);
    expect(all.filter(isExample)).to.have.length(3);
    expect(typescript.length).to.be.greaterThan(6);
  });

  it('type-checks every TypeScript block: Node ones under NodeNext, browser ones under Bundler with the DOM only', async () => {
    const node = typescript.filter((b) => !b.tags.includes('browser'));
    const browser = typescript.filter((b) => b.tags.includes('browser'));
    const failures = [
      await typeCheck(dir, 'node', node, { module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'], types: ['node'] }),
      await typeCheck(dir, 'browser', browser, { module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM'], types: [] }),
    ];
    const where = new Map(typescript.map((b) => [fileName(b), b.where]));
    // tsc names the generated file; say which page and line it came from.
    expect(failures.join('').replace(/[\w-]+\.ts(?=\(\d+)/g, (file) => `${where.get(file) ?? file} `)).to.equal('');
  });

  it('runs each ```ts server block as written: it serves, and the Node client stores a file through it', async () => {
    const { transform } = await import('esbuild');
    const servers = [...new Map(typescript.filter((b) => b.tags.includes('server')).map((b) => [b.code, b])).values()];
    expect(servers.length).to.be.greaterThan(0);
    for (const block of servers) {
      const js = join(dir, fileName(block).replace(/\.ts$/, '.js'));
      await writeFile(js, (await transform(block.code, { loader: 'ts', format: 'esm', target: 'node20' })).code);
      const work = await tempDir();
      let child: ChildProcess | undefined;
      try {
        child = spawn(process.execPath, [js], { cwd: work.path, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout!.on('data', (data: Buffer) => (output += data));
        child.stderr!.on('data', (data: Buffer) => (output += data));
        const started = new Promise<string>((resolve, reject) => {
          child!.stdout!.on('data', () => {
            const page = /upwire: (http:\/\/localhost:\d+\/uploads\/)/.exec(output)?.[1];
            if (page) resolve(page);
          });
          child!.once('exit', (code) => reject(new Error(`${block.where} exited ${code} before it listened: ${output}`)));
        });
        const page = await started;
        const file = await randomFile(work.path, 300_000, 'from-the-docs.bin');
        const result = await upload(file.path, { url: page.replace(/\/$/, ''), hashCache: false, retries: 0 });
        expect(result.md5, block.where).to.equal(file.md5);
        expect((await readFile(storedPath(join(work.path, 'uploads'), file.md5))).equals(file.data), block.where).to.equal(true);
        const html = await fetch(page);
        expect(html.status, `${block.where}: GET ${page}`).to.equal(200);
        expect(await html.text()).to.match(/<html/i);
      } finally {
        if (child && child.exitCode === null && child.signalCode === null) {
          const gone = exited(child);
          child.kill('SIGTERM');
          await gone;
        }
        await work.remove();
      }
    }
  });

  it('links only to pages and headings that exist', () => {
    const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const anchors = (page: string) => new Set(readFileSync(join(REPO, page), 'utf8').split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, ''))));
    const broken: string[] = [];
    for (const page of ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]) {
      // Links outside code blocks: [text](target), relative ones only.
      const prose = readFileSync(join(REPO, page), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [file, anchor] = target!.split('#');
        const linked = file ? join(page.includes('/') ? 'docs' : '', file) : page;
        if (!existsSync(join(REPO, linked))) broken.push(`${page}: ${target}`);
        else if (anchor !== undefined && !anchors(linked).has(anchor)) broken.push(`${page}: ${target} (no such heading)`);
      }
    }
    expect(broken).to.deep.equal([]);
  });

  it('quotes deploy/nginx.conf, without its comments, as the nginx recipe', async () => {
    const nginx = all.filter((b) => b.lang === 'nginx');
    expect(nginx.map((b) => b.where)).to.have.length(1);
    const conf = await readFile(join(REPO, 'deploy/nginx.conf'), 'utf8');
    const uncommented = conf.split('\n').filter((line) => !line.trim().startsWith('#')).join('\n');
    expect(nginx[0]!.code.trim()).to.equal(uncommented.trim());
  });
});
