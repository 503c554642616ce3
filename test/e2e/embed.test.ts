import { expect } from 'chai';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { io as ioClient } from 'socket.io-client';
import { startExpressApp, type ExampleOptions, type RunningExample } from '../../examples/express.js';
import { startNodeHttpApp } from '../../examples/node-http.js';
import { startSocketIoApp } from '../../examples/socket-io.js';
import { upload, UpwireError, type NodeUploadOptions } from '../../src/client/node.js';
import { MiB } from '../../src/protocol/index.js';
import { ConfigError, createUpwire, type UpwireOptions } from '../../src/server/index.js';
import { createLogger } from '../../src/server/observe/log.js';
import { md5Of, randomFile, storedPath, tempDir } from '../support/fixtures.js';

type Dir = Awaited<ReturnType<typeof tempDir>>;

/** An example on port 0, its stores in `dir`, silent. */
function startIn(dir: Dir, start: (options: ExampleOptions) => Promise<RunningExample>): Promise<RunningExample> {
  return start({ port: 0, uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db'), logger: createLogger('silent', false) });
}

/** The bytes upwire stored for `md5`, read from its store on disk. */
function stored(dir: Dir, md5: string): Promise<Buffer> {
  return readFile(storedPath(join(dir.path, 'uploads'), md5));
}

/** The host's own socket.io namespace: connect, say something, get the echo. */
async function echo(url: string, path: string): Promise<string> {
  const socket = ioClient(url, { path, transports: ['websocket'], reconnection: false, forceNew: true });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return (await socket.timeout(5000).emitWithAck('say', 'hi')) as string;
  } finally {
    socket.disconnect();
  }
}

const HOSTS = [
  {
    name: 'Express 5',
    start: startExpressApp,
    socketPath: '/uploads/socket.io',
    client: (url: string): Pick<NodeUploadOptions, 'url' | 'path'> => ({ url: `${url}/uploads` }),
    /** Express's own 404 (finalhandler), not upwire's JSON. */
    hostNotFound: (body: string, path: string) => expect(body).to.include(`Cannot GET ${path}`),
  },
  {
    name: 'node:http',
    start: startNodeHttpApp,
    socketPath: '/socket.io',
    client: (url: string): Pick<NodeUploadOptions, 'url' | 'path'> => ({ url: `${url}/uploads`, path: '/socket.io' }),
    hostNotFound: (body: string) => expect(body).to.equal('no such page in this app\n'),
  },
];

describe('embedding: upwire inside a host application (examples/)', () => {
  let dir: Dir;
  beforeEach(async () => (dir = await tempDir()));
  afterEach(() => dir.remove());

  for (const host of HOSTS) {
    it(`${host.name}: uploads under /uploads, and the host's routes and socket.io namespace still answer`, async () => {
      const app = await startIn(dir, host.start);
      try {
        const file = await randomFile(dir.path, 3 * MiB + 12_345);
        const result = await upload(file.path, { ...host.client(app.url), hashCache: false });
        expect(result).to.include({ md5: file.md5, instant: false });
        const bytes = await stored(dir, file.md5);
        expect(md5Of(bytes)).to.equal(file.md5);
        expect(bytes.equals(file.data)).to.equal(true);

        // upwire's HTTP side, under the mount
        expect(await (await fetch(`${app.url}/uploads/healthz`)).json()).to.deep.equal({ ok: true });
        const { files } = (await (await fetch(`${app.url}/uploads/files`)).json()) as { files: { md5: string; size: number }[] };
        expect(files.map((f) => [f.md5, f.size])).to.deep.equal([[file.md5, file.data.length]]);
        const download = await fetch(`${app.url}/uploads/files/${file.md5}`);
        expect(download.status).to.equal(200);
        expect(Buffer.from(await download.arrayBuffer()).equals(file.data)).to.equal(true);
        const page = await fetch(`${app.url}/uploads/`);
        expect(page.status).to.equal(200);
        // the page is told where socket.io is
        expect(await page.text()).to.include(`&quot;socketPath&quot;:&quot;${host.socketPath}&quot;`);

        // the host's own route and namespace
        const hello = await fetch(`${app.url}/api/hello`);
        expect(hello.status).to.equal(200);
        expect(await hello.json()).to.deep.equal({ hello: 'world' });
        expect(await echo(`${app.url}/chat`, host.socketPath)).to.equal('echo: hi');

        // what upwire does not own, outside the mount or inside it, is the host's to answer
        for (const path of ['/nope', '/uploads/nope', '/files', '/healthz']) {
          const res = await fetch(`${app.url}${path}`);
          expect(res.status, path).to.equal(404);
          expect(res.headers.get('content-type'), path).not.to.include('application/json');
          host.hostNotFound(await res.text(), path);
        }
        // the page's URLs are relative: the mount without its slash is redirected to it
        const bare = await fetch(`${app.url}/uploads`, { redirect: 'manual' });
        expect([bare.status, bare.headers.get('location')]).to.deep.equal([308, '/uploads/']);
      } finally {
        await app.close();
      }
    });
  }

  it('socket.io only: uploads on the namespace the host chose, and the default one fails fast with E_NOT_FOUND', async () => {
    const app = await startIn(dir, startSocketIoApp);
    try {
      const file = await randomFile(dir.path, 2 * MiB + 1);
      const result = await upload(file.path, { url: app.url, namespace: '/files-in', hashCache: false });
      expect(result).to.include({ md5: file.md5, instant: false });
      expect(md5Of(await stored(dir, file.md5))).to.equal(file.md5);
      expect(await echo(app.url, '/socket.io')).to.equal('echo: hi');

      const started = Date.now();
      const error = await upload(file.path, { url: app.url, hashCache: false }).then(() => undefined, (err: unknown) => err);
      expect(error).to.be.instanceOf(UpwireError);
      expect((error as UpwireError).code).to.equal('E_NOT_FOUND');
      expect((error as UpwireError).message).to.include('/upload');
      expect(Date.now() - started).to.be.below(5000);
    } finally {
      await app.close();
    }
  });

  it('createUpwire refuses an unknown option (a misspelt limit) with a ConfigError', async () => {
    const dirs = { uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') };
    const misspelt = await createUpwire({ ...dirs, maxFilesize: 1024 } as UpwireOptions).then(() => undefined, (err: unknown) => err);
    expect(misspelt).to.be.instanceOf(ConfigError);
    expect((misspelt as Error).message).to.include('maxFilesize');
    // the settings of the listening server are not createUpwire's
    const port = await createUpwire({ ...dirs, port: 3000 } as UpwireOptions).then(() => undefined, (err: unknown) => err);
    expect(port).to.be.instanceOf(ConfigError);
    expect((port as Error).message).to.include('port');
    // values are held to the rules of `upwire serve`
    for (const [key, value] of [['chunkSize', 1], ['verify', 'x'], ['maxUploads', -5], ['uploadToken', 42], ['partialTtlMs', 0], ['allowedOrigins', 'https://a.example']] as const) {
      const wrong = await createUpwire({ ...dirs, [key]: value } as UpwireOptions).then(() => undefined, (err: unknown) => err);
      expect(wrong, key).to.be.instanceOf(ConfigError);
      expect((wrong as Error).message, key).to.include(key);
    }
  });

  it('attach refuses a socket.io server created without upwireSocketOptions(), naming the fix', async () => {
    const upwire = await createUpwire({ uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db'), logger: createLogger('silent', false) });
    const http = createServer();
    const io = new Server(http); // maxHttpBufferSize: 1e6, smaller than a frame
    try {
      expect(() => upwire.attach(io)).to.throw(ConfigError, /upwireSocketOptions\(\)/);
      // also before it is bound to an HTTP server
      expect(() => upwire.attach(new Server())).to.throw(ConfigError, /upwireSocketOptions\(\)/);
    } finally {
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await upwire.close();
    }
  });
});

describe('docs/embedding.md quotes the embedding examples as they are', () => {
  it('holds each file of examples/ verbatim', async () => {
    const page = await readFile(new URL('../../../docs/embedding.md', import.meta.url), 'utf8');
    for (const name of ['express.ts', 'node-http.ts', 'socket-io.ts']) {
      const source = await readFile(new URL(`../../../examples/${name}`, import.meta.url), 'utf8');
      expect(page.includes(`\`\`\`ts\n${source.trimEnd()}\n\`\`\``), `examples/${name} in docs/embedding.md`).to.equal(true);
    }
  });
});
