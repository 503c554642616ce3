/*
 * TypeScript projects that installed the packed tarball type-check code using every export, with
 * this repository's tsc, under moduleResolution NodeNext and Bundler, and skipLibCheck off so
 * upwire's own .d.ts files are checked too. Each file holds a `@ts-expect-error` misuse: were an
 * import typed `any` (no declarations, TS7016 under noImplicitAny aside), that directive would be
 * unused, which is an error.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { consumerProject, REPO, run, type ProjectKind } from '../support/package-project.js';

/** Every entry: the Node client, the browser client, the server and the protocol. */
const ALL_ENTRIES = `import { createUploader, upload, openConnection, type NodeUploadOptions, type Phase, type UploadResult } from 'upwire';
import { upload as uploadInBrowser, type BrowserUploadOptions } from 'upwire/browser';
import { DEFAULTS, loadConfig, startServer, type ServerConfig, type UpwireServer } from 'upwire/server';
import { ERRORS, UPLOAD_NAMESPACE, UpwireError, type ErrorCode } from 'upwire/protocol';

const options: NodeUploadOptions = { url: 'http://127.0.0.1:3000', chunkSize: 4 * 1024 * 1024, retries: 5 };

export async function fromNode(path: string): Promise<UploadResult> {
  const uploader = await createUploader(path, options);
  uploader.on('progress', ({ percent }) => console.log(percent.toFixed(1)));
  uploader.on('phase', (phase: Phase) => console.log(phase));
  uploader.on('error', (err: UpwireError) => console.log(err.code, err.retryable));
  const result = await upload(path, { ...options, connection: openConnection({ url: options.url }) });
  console.log(result.file.md5, result.instant);
  return uploader.start();
}

export async function fromBrowser(file: File): Promise<string> {
  const browserOptions: BrowserUploadOptions = { url: 'https://uploads.example.com', workerUrl: '/hash-worker.js', hashAlgorithm: 'wasm' };
  // @ts-expect-error the browser uploader takes a Blob or File, not a path
  await uploadInBrowser('video.mp4', browserOptions);
  return (await uploadInBrowser(file, browserOptions)).md5;
}

export async function serve(): Promise<UpwireServer> {
  const config: ServerConfig = loadConfig(process.env, { port: '0' });
  const server = await startServer({ ...config, chunkSize: DEFAULTS.chunkSize });
  console.log(server.url, UPLOAD_NAMESPACE);
  // @ts-expect-error loadConfig reads an environment, not a path
  loadConfig('/etc/upwire.conf');
  return server;
}

export function explain(code: ErrorCode): string {
  return ERRORS[code].message;
}
`;

/** Under NodeNext TypeScript applies the \`node\` condition: \`upwire\` is the Node client, exactly. */
const NODE_CONDITION = `import { defaultHashCachePath, upload, type NodeUploadOptions } from 'upwire';

export async function send(path: string, options: NodeUploadOptions): Promise<string> {
  console.log(defaultHashCachePath(process.env));
  // @ts-expect-error the Node uploader takes a path, not a Blob
  await upload(new Blob([]), options);
  return (await upload(path, options)).md5;
}
`;

/**
 * A browser project with a bundler's default settings (Vite's template: moduleResolution Bundler,
 * the DOM, no Node types, no customConditions): TypeScript applies no platform condition, and
 * \`upwire\` must still take a File (universal.d.ts).
 */
const BROWSER_DEFAULTS = `import { createUploader, upload, UpwireError, type BrowserUploadOptions, type UploadResult } from 'upwire';

export async function send(file: File, options: BrowserUploadOptions): Promise<UploadResult> {
  const uploader = await createUploader(file, options);
  uploader.on('progress', ({ percent, window }) => console.log(percent, window));
  uploader.on('error', (err: UpwireError) => console.log(err.code, err.retryable));
  // @ts-expect-error a File takes the browser's options: \`type\` is the Node uploader's
  await upload(file, { url: 'https://uploads.example.com', type: 'video/mp4' });
  // @ts-expect-error a file, by path or as a Blob; not a number
  await upload(42, options);
  return upload(new Blob(['x'], { type: 'text/plain' }), { ...options, workerUrl: new URL('https://uploads.example.com/hash-worker.js') });
}
`;

/** A Node program with no DOM types: the Node client's declarations must not need them. */
const NODE_ONLY = `import { upload, UpwireError, type UploadResult } from 'upwire';

export async function send(path: string): Promise<UploadResult | undefined> {
  try {
    return await upload(path, { url: 'http://127.0.0.1:3000', signal: AbortSignal.timeout(60_000) });
  } catch (err) {
    if (err instanceof UpwireError && err.retryable) return undefined;
    throw err;
  }
}
`;

/** What a bundler (with the browser condition) gives \`import 'upwire'\`: the browser client. */
const BROWSER_CONDITION = `import { createUploader, upload } from 'upwire';

export async function send(file: File): Promise<string> {
  const uploader = await createUploader(file, { url: 'https://uploads.example.com' });
  uploader.on('hash-progress', ({ percent }) => console.log(percent));
  // @ts-expect-error the browser uploader takes a Blob or File, not a path
  await upload('video.mp4', { url: 'https://uploads.example.com' });
  return (await upload(file, { url: 'https://uploads.example.com' })).md5;
}
`;

interface Check { name: string; project: ProjectKind; source: string; options: Record<string, unknown> }

const NODENEXT = { module: 'NodeNext', moduleResolution: 'NodeNext' };
const BUNDLER = { module: 'ESNext', moduleResolution: 'Bundler' };
/** No `types`: TypeScript's default (every @types package installed, of which a client-only install has none). */
const BROWSER_DEFAULT_OPTIONS = { ...BUNDLER, lib: ['ES2022', 'DOM'], types: undefined };
const CHECKS: Check[] = [
  // The server's declarations use its packages' types: a server user has them installed.
  { name: 'all-nodenext', project: 'server', source: ALL_ENTRIES, options: { ...NODENEXT, lib: ['ES2022', 'DOM'] } },
  { name: 'all-bundler', project: 'server', source: ALL_ENTRIES, options: { ...BUNDLER, lib: ['ES2022', 'DOM'] } },
  // A client-only install has no @types/node of its own (engine.io brought one with the server).
  { name: 'node-only', project: 'client', source: NODE_ONLY, options: { ...NODENEXT, lib: ['ES2022'], typeRoots: [join(REPO, 'node_modules/@types')] } },
  { name: 'browser-condition', project: 'client', source: BROWSER_CONDITION, options: { ...BUNDLER, lib: ['ES2022', 'DOM'], customConditions: ['browser'], types: [] } },
  { name: 'node-condition', project: 'server', source: NODE_CONDITION, options: { ...NODENEXT, lib: ['ES2022'] } },
  { name: 'browser-defaults', project: 'client', source: BROWSER_DEFAULTS, options: BROWSER_DEFAULT_OPTIONS },
  // As pasted; the check above proves these declarations are not \`any\`.
  { name: 'browser-readme', project: 'client', source: readmeBrowserSnippet(), options: BROWSER_DEFAULT_OPTIONS },
];

/** The README's browser snippet (its ```ts browser block), as a user pastes it into main.ts. */
function readmeBrowserSnippet(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const snippet = /```ts browser\n([\s\S]*?)```/.exec(readme)?.[1];
  if (snippet === undefined) throw new Error('README.md has no ```ts browser block');
  return snippet;
}

async function typeCheck(check: Check): Promise<string> {
  const dir = join(await consumerProject(check.project), 'typecheck', check.name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'index.ts'), check.source);
  const compilerOptions = { target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], ...check.options };
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['index.ts'] }, null, 2));
  const result = await run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { cwd: dir, timeoutMs: 240_000 });
  return result.code === 0 ? '' : `${check.name}: ${result.stdout}${result.stderr}`;
}

describe('the npm package\'s types in a TypeScript project', function () {
  this.timeout(900_000);

  it('type-check every export under NodeNext and Bundler, the Node client without DOM types, each platform\'s condition, a browser project\'s defaults', async () => {
    // One tsc at a time: several at once on a loaded machine each took longer than any fair bound.
    const failures: string[] = [];
    for (const check of CHECKS) failures.push(await typeCheck(check));
    expect(failures.filter(Boolean).join('\n')).to.equal('');
  });

  it('a browser project with default settings builds the README\'s browser snippet with Vite', async () => {
    const app = join(await consumerProject('client'), 'vite-app');
    await mkdir(app, { recursive: true });
    await writeFile(join(app, 'index.html'), '<!doctype html><input type="file"><script type="module" src="./main.ts"></script>\n');
    await writeFile(join(app, 'main.ts'), readmeBrowserSnippet());
    const { build } = await import('vite');
    await build({ root: app, configFile: false, logLevel: 'silent', build: { outDir: join(app, 'dist'), emptyOutDir: true } });
    const assets = await readdir(join(app, 'dist/assets'));
    const bundle = await readFile(join(app, 'dist/assets', assets.find((f) => f.endsWith('.js'))!), 'utf8');
    // The browser client, with its worker built in; nothing of Node's file system.
    expect(bundle).to.include('createObjectURL');
    expect(bundle).not.to.match(/node:fs|node:crypto/);
  });
});
