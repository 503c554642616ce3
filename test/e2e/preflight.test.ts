import { expect } from 'chai';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NodeFileSource, nodeMd5, openConnection, Uploader, UpwireError, type FileSource, type Phase } from '../../src/client/node.js';
import { MiB, PROTOCOL_VERSION, UPLOAD_NAMESPACE } from '../../src/protocol/index.js';
import { randomFile, tempDir } from '../support/fixtures.js';
import { connect, ok, request, startTestServer, type TestServer } from '../support/server.js';

/*
 * Refusal before hashing: the client connects and sends a preflight (size, name, type, metadata)
 * before its hash pass, so what the server refuses without the md5 costs no read of the file. The
 * tests count the bytes read from the file source (the hasher reads only through it): 0, whatever
 * the file's size or the machine's speed.
 */

/** A file on disk whose reads are counted. */
class CountingSource implements FileSource {
  bytesRead = 0;
  constructor(private readonly file: NodeFileSource) {}
  get name(): string { return this.file.name; }
  get size(): number { return this.file.size; }
  get type(): string { return this.file.type; }
  async read(offset: number, length: number, into?: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
    const bytes = await this.file.read(offset, length, into);
    this.bytesRead += bytes.length;
    return bytes;
  }
  close(): Promise<void> {
    return this.file.close();
  }
}

/** A sparse file of `size` bytes: no disk space, and reading it would take seconds. */
async function sparseFile(dir: string, size: number, name: string): Promise<string> {
  const path = join(dir, name);
  const handle = await open(path, 'w');
  await handle.truncate(size);
  await handle.close();
  return path;
}

interface Outcome { error: UpwireError; bytesRead: number; phases: Phase[]; hashEvents: number }

async function uploadCounting(path: string, options: { url: string; token?: string; metadata?: Record<string, string> }): Promise<Outcome> {
  const source = new CountingSource(await NodeFileSource.open(path));
  const uploader = new Uploader(source, nodeMd5, { ...options, hashCache: false, retries: 1 });
  const phases: Phase[] = [];
  let hashEvents = 0;
  uploader.on('phase', (phase) => phases.push(phase));
  uploader.on('hash-progress', () => hashEvents++);
  const error = await uploader.start().then(() => undefined, (err: unknown) => err);
  if (!(error instanceof UpwireError)) throw new Error(`expected a refusal, got ${String(error)}`);
  return { error, bytesRead: source.bytesRead, phases, hashEvents };
}

describe('refusal before hashing (preflight)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let big: string;
  before(async () => {
    dir = await tempDir();
    big = await sparseFile(dir.path, 1024 * MiB, 'one-gib.bin');
  });
  after(async () => {
    await dir.remove();
  });

  describe('against a server with a token and a 10 MiB limit', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ uploadToken: 'right', watchToken: 'watcher', maxFileSize: 10 * MiB });
    });
    after(async () => {
      await server.stop();
    });

    it('a wrong token: E_UNAUTHORIZED, with no byte of the 1 GiB file read', async () => {
      const outcome = await uploadCounting(big, { url: server.url, token: 'wrong' });
      expect(outcome.error.code, outcome.error.message).to.equal('E_UNAUTHORIZED');
      expect(outcome).to.include({ bytesRead: 0, hashEvents: 0 });
      expect(outcome.phases).to.deep.equal(['connecting', 'failed']);
    });

    it('no token: E_UNAUTHORIZED, with no byte read', async () => {
      const outcome = await uploadCounting(big, { url: server.url });
      expect(outcome.error.code).to.equal('E_UNAUTHORIZED');
      expect(outcome.bytesRead).to.equal(0);
    });

    it('above the size limit: E_TOO_LARGE with the limit, with no byte read', async () => {
      const outcome = await uploadCounting(big, { url: server.url, token: 'right' });
      expect(outcome.error.code).to.equal('E_TOO_LARGE');
      expect(outcome.error.message).to.equal(`size ${1024 * MiB} is above the limit of ${10 * MiB} bytes`);
      expect(outcome.error.details).to.deep.equal({ maxFileSize: 10 * MiB });
      expect(outcome).to.include({ bytesRead: 0, hashEvents: 0 });
      expect(outcome.phases).to.deep.equal(['connecting', 'failed']);
    });

    it('metadata outside the protocol\'s limits: E_BAD_REQUEST, with no byte read', async () => {
      const small = await sparseFile(dir.path, 1000, 'small.bin');
      const outcome = await uploadCounting(small, { url: server.url, token: 'right', metadata: { 'not a key': 'x' } });
      expect(outcome.error.code).to.equal('E_BAD_REQUEST');
      expect(outcome.bytesRead).to.equal(0);
    });

    it('a file within the limits is hashed and uploaded after its preflight', async () => {
      const file = await randomFile(dir.path, 200_000, 'fits.bin');
      const source = new CountingSource(await NodeFileSource.open(file.path));
      const uploader = new Uploader(source, nodeMd5, { url: server.url, token: 'right', hashCache: false });
      const phases: Phase[] = [];
      uploader.on('phase', (phase) => phases.push(phase));
      const result = await uploader.start();
      expect(result.md5).to.equal(file.md5);
      expect(phases.slice(0, 2)).to.deep.equal(['connecting', 'hashing']);
    });

    it('validates the preflight like any request, refuses the watch role, and stays up', async () => {
      const socket = await connect(server.url, { token: 'right' });
      try {
        for (const payload of [undefined, null, [], { size: -1, name: 'a' }, { size: 1.5, name: 'a' }, { size: 1, name: '' }, { size: 1, name: 'a\u0000b' },
          { size: 1, name: 'a', type: 'x\ny' }, { size: 1, name: 'a', metadata: { k: 1 } }, { size: '1', name: 'a' }]) {
          const result = await request(socket, 'preflight', payload);
          expect(result.ok, JSON.stringify(payload)).to.equal(false);
          if (!result.ok) expect(result.error.code, JSON.stringify(payload)).to.equal('E_BAD_REQUEST');
        }
        expect(await ok(socket, 'preflight', { size: 10 * MiB, name: 'exactly-the-limit.bin', metadata: { k: 'v' } })).to.deep.equal({ ok: true });
        const above = await request(socket, 'preflight', { size: 10 * MiB + 1, name: 'a' });
        expect(above.ok === false && above.error.code).to.equal('E_TOO_LARGE');
      } finally {
        socket.disconnect();
      }
      const watcher = await connect(server.url, { token: 'watcher' });
      try {
        const result = await request(watcher, 'preflight', { size: 1, name: 'a' });
        expect(result.ok === false && result.error.code).to.equal('E_UNAUTHORIZED');
      } finally {
        watcher.disconnect();
      }
    });

    it('takes a client of protocol 2, which sends no preflight', async () => {
      const socket = await connect(server.url, { token: 'right', protocol: 2 });
      try {
        const answer = await ok(socket, 'init', { md5: 'ab'.repeat(16), size: 1000, name: 'old-client.bin' });
        expect(answer.status).to.equal('partial');
      } finally {
        socket.disconnect();
      }
      for (const protocol of [1, 4, '3', 2.5]) {
        const refused = await connect(server.url, { token: 'right', protocol }).then(() => undefined, (err: unknown) => err as Error & { data?: { code?: string } });
        expect(refused?.data?.code, String(protocol)).to.equal('E_PROTOCOL');
      }
    });
  });

  it('preflights are held to INIT_RATE a connection, in a bucket of their own: a flood is refused, inits are not charged for it', async () => {
    const server = await startTestServer({ initRate: 2 });
    const socket = await connect(server.url);
    try {
      // A burst of INIT_RATE passes, the rest are told how long to wait (as limits.test.ts floods inits).
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => request(socket, 'preflight', { size: 1, name: `p${i}` })));
      expect(answers.filter((a) => a.ok)).to.have.length(2);
      const limited = answers.filter((a) => !a.ok && a.error.code === 'E_RATE_LIMIT');
      expect(limited).to.have.length(4);
      for (const a of limited) if (!a.ok) expect(a.error.retryAfterMs).to.be.within(1, 1000);
      // The inits' own bucket is full still.
      const inits = await Promise.all([0, 1].map((i) => ok(socket, 'init', { md5: String(i).repeat(32), size: 1000, name: `i${i}` })));
      expect(inits.map((a) => a.status)).to.deep.equal(['partial', 'partial']);
    } finally {
      socket.disconnect();
      await server.stop();
    }
  });

  it('speaks protocol 2, without preflight, to a server of protocol 2', async () => {
    // A stand-in for a server before preflight: it refuses any other version as such a server
    // does (E_PROTOCOL with the version it speaks), and answers nothing to a preflight.
    const http = createServer();
    const io = new Server(http);
    const stated: unknown[] = [];
    io.of(UPLOAD_NAMESPACE).use((socket, next) => {
      const { protocol } = socket.handshake.auth as { protocol?: unknown };
      stated.push(protocol);
      if (protocol === 2) return next();
      next(Object.assign(new Error('protocol'), { data: { code: 'E_PROTOCOL', message: 'this server speaks protocol 2', server: 2 } }));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const connection = openConnection({ url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` });
    try {
      await connection.connected();
      expect(stated).to.deep.equal([PROTOCOL_VERSION, 2]);
      expect(connection.preflights).to.equal(false);
    } finally {
      connection.close();
      await new Promise((resolve) => io.close(resolve));
    }
  });
});
