/*
 * An embedded upwire with hooks: authorize per connection and per HTTP request, onUploadCreate
 * refusing or adjusting, onUploadComplete once per stored upload (and again after a kill -9 before
 * it ran), per-principal files with a proof of possession, metadata, typed events.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { upload } from '../../src/client/node.js';
import { PROOF_RANGE_BYTES, PROOF_RANGES, UpwireError, type FileInfo, type ProveStatus } from '../../src/protocol/index.js';
import type { UploadCompleteEvent, UploadCreateEvent } from '../../src/server/index.js';
import { startEmbedded, userTokens, type Embedded } from '../support/embedded.js';
import { md5Of, randomFile, storedPath, tempDir } from '../support/fixtures.js';
import { connect, exited, request } from '../support/server.js';

const HOOK_SERVER = fileURLToPath(new URL('../support/hook-server.js', import.meta.url));

async function refusal(promise: Promise<unknown>): Promise<UpwireError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err, 'the upload should have been refused').to.be.instanceOf(UpwireError);
  return err as UpwireError;
}

function getJson(url: string, token: string): Promise<Response> {
  return fetch(url, { headers: { authorization: `Bearer ${token}` } });
}

describe('hooks: authorize, onUploadCreate, onUploadComplete, per-principal files', function () {
  this.timeout(60_000);
  let server: Embedded | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => (dir = await tempDir()));
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    await dir.remove();
  });

  it('authorize: a refused connection fails fast with E_UNAUTHORIZED, a thrown UpwireError keeps its code, an accepted one uploads as its principal', async () => {
    const seen: string[] = [];
    server = await startEmbedded({
      hooks: {
        authorize: async (request) => {
          seen.push(`${request.kind}:${String(request.token)}`);
          if (request.token === 'user:mallory') throw new UpwireError('E_FORBIDDEN', 'mallory is banned');
          return userTokens!(request);
        },
      },
    });
    const file = await randomFile(dir.path, 100_000);
    const started = Date.now();
    expect((await refusal(upload(file.path, { url: server.url, token: 'nobody', hashCache: false }))).code).to.equal('E_UNAUTHORIZED');
    expect((await refusal(upload(file.path, { url: server.url, hashCache: false }))).code).to.equal('E_UNAUTHORIZED');
    expect((await refusal(upload(file.path, { url: server.url, token: 'user:mallory', hashCache: false }))).code).to.equal('E_FORBIDDEN');
    expect(Date.now() - started).to.be.below(10_000);
    expect(server.upwire.service.partialUploads).to.equal(0);

    // The token may be a function, asked at each connection.
    let asked = 0;
    const result = await upload(file.path, { url: server.url, token: () => (asked++, 'user:alice'), hashCache: false });
    expect(asked).to.be.at.least(1);
    expect(result.file).to.include({ md5: file.md5, name: 'file-100000.bin' });
    expect(seen).to.include('socket:user:alice');

    // Per HTTP request too: no token, a refused one, then the principal's own listing.
    expect((await fetch(`${server.url}/files`)).status).to.equal(401);
    expect((await getJson(`${server.url}/files`, 'nobody')).status).to.equal(401);
    expect((await getJson(`${server.url}/files`, 'user:mallory')).status).to.equal(403);
    const listed = await (await getJson(`${server.url}/files`, 'user:alice')).json() as { files: FileInfo[] };
    expect(listed.files.map((f) => f.md5)).to.deep.equal([file.md5]);
    expect(seen).to.include('http:user:alice');
  });

  it('onUploadCreate refuses with its own code, and nothing is kept; it may replace the metadata', async () => {
    const calls: UploadCreateEvent[] = [];
    server = await startEmbedded({
      hooks: {
        authorize: userTokens,
        onUploadCreate: (event) => {
          calls.push(event);
          if (event.size > 150_000) throw new UpwireError('E_TOO_LARGE', `quota: ${event.principal.id} may store 150000 bytes`);
          if (event.name.endsWith('.exe')) throw new UpwireError('E_FORBIDDEN', 'no executables');
          return { metadata: { ...event.metadata, owner: event.principal.id } };
        },
      },
    });
    const big = await randomFile(dir.path, 200_000, 'big.bin');
    const exe = await randomFile(dir.path, 1000, 'tool.exe');
    const quota = await refusal(upload(big.path, { url: server.url, token: 'user:alice', hashCache: false }));
    expect([quota.code, quota.message]).to.deep.equal(['E_TOO_LARGE', 'quota: alice may store 150000 bytes']);
    expect((await refusal(upload(exe.path, { url: server.url, token: 'user:alice', hashCache: false }))).code).to.equal('E_FORBIDDEN');
    expect(server.upwire.service.partialUploads).to.equal(0);
    expect(await readFile(storedPath(server.uploadDir, big.md5)).catch(() => 'none')).to.equal('none');

    const ok = await randomFile(dir.path, 100_000, 'ok.bin');
    const result = await upload(ok.path, { url: server.url, token: 'user:alice', metadata: { album: 'Été 2026' }, hashCache: false });
    expect(result.file.metadata).to.deep.equal({ album: 'Été 2026', owner: 'alice' });
    expect(calls.map((c) => [c.name, c.principal.id, c.instant])).to.deep.equal([['big.bin', 'alice', false], ['tool.exe', 'alice', false], ['ok.bin', 'alice', false]]);
    expect(calls[2]!.metadata).to.deep.equal({ album: 'Été 2026' });
  });

  it('onUploadComplete runs once per stored upload, after the rename and before the answer; events follow', async () => {
    const completed: UploadCompleteEvent[] = [];
    let storedWhenCalled = false;
    const events: string[] = [];
    server = await startEmbedded({
      hooks: {
        onUploadComplete: async (event) => {
          storedWhenCalled = (await readFile(storedPath(server!.uploadDir, event.file.md5)).then(md5Of)) === event.file.md5;
          completed.push(event);
        },
      },
    });
    server.upwire.events.on('upload:created', (e) => events.push(`created ${e.name} instant=${e.instant}`));
    server.upwire.events.on('upload:completed', (e) => events.push(`completed ${e.file.name}`));
    const file = await randomFile(dir.path, 300_000, 'once.bin');
    const first = await upload(file.path, { url: server.url, metadata: { k: 'v' }, hashCache: false });
    expect(completed).to.have.length(1);
    expect(storedWhenCalled).to.equal(true);
    expect(completed[0]).to.deep.include({ metadata: { k: 'v' } });
    expect(completed[0]!.file).to.deep.include({ md5: file.md5, size: 300_000, name: 'once.bin' });
    expect(first.file.metadata).to.deep.equal({ k: 'v' });
    // An instant re-upload stores nothing new: no second call.
    const again = await upload(file.path, { url: server.url, hashCache: false });
    expect(again.instant).to.equal(true);
    expect(completed).to.have.length(1);
    expect(events).to.deep.equal(['created once.bin instant=false', 'completed once.bin', 'created once.bin instant=true']);
  });

  it('onUploadComplete that throws: the client gets the error, retries, and the hook runs again until it succeeds', async () => {
    let calls = 0;
    server = await startEmbedded({
      hooks: {
        onUploadComplete: () => {
          if (++calls === 1) throw new Error('the database is down');
        },
      },
    });
    const file = await randomFile(dir.path, 100_000, 'retry.bin');
    const retries: string[] = [];
    const { createUploader } = await import('../../src/client/node.js');
    const uploader = await createUploader(file.path, { url: server.url, hashCache: false });
    uploader.on('retry', ({ error }) => retries.push(error.code));
    const result = await uploader.start();
    expect(result.file.md5).to.equal(file.md5);
    expect(retries).to.deep.equal(['E_INTERNAL']);
    expect(calls).to.equal(2);
    expect(server.upwire.service.partialUploads).to.equal(0);
  });

  it('per principal: each sees its own name and metadata; a second principal proves possession instead of uploading; others get 404', async () => {
    server = await startEmbedded({ hooks: { authorize: userTokens } });
    const file = await randomFile(dir.path, 2_000_000, 'holiday.mov');
    const alice = await upload(file.path, { url: server.url, token: 'user:alice', metadata: { trip: 'alps' }, hashCache: false });
    expect(alice.instant).to.equal(false);

    // Bob has the same content under another name: a proof of possession, no byte of the file sent.
    const bobCopy = join(dir.path, 'bob.mov');
    await writeFile(bobCopy, file.data);
    const bob = await upload(bobCopy, { url: server.url, token: 'user:bob', hashCache: false });
    expect(bob).to.deep.include({ instant: true, bytesSent: 0 });
    expect(bob.file).to.deep.include({ md5: file.md5, name: 'bob.mov' });
    expect(bob.file.metadata).to.equal(undefined);

    const list = async (token: string) => ((await (await getJson(`${server!.url}/files`, token)).json()) as { files: FileInfo[] }).files;
    expect((await list('user:alice')).map((f) => [f.name, f.metadata])).to.deep.equal([['holiday.mov', { trip: 'alps' }]]);
    expect((await list('user:bob')).map((f) => [f.name, f.metadata])).to.deep.equal([['bob.mov', undefined]]);
    expect(await list('user:carol')).to.deep.equal([]);

    const download = await getJson(`${server.url}/files/${file.md5}`, 'user:bob');
    expect(download.status).to.equal(200);
    expect(download.headers.get('content-disposition')).to.include('bob.mov');
    expect(md5Of(Buffer.from(await download.arrayBuffer()))).to.equal(file.md5);
    expect((await getJson(`${server.url}/files/${file.md5}`, 'user:carol')).status).to.equal(404);

    // Carol knows only the md5: she is challenged, a wrong answer is E_PROOF, merge and status give nothing away.
    const carol = await connect(server.url, { token: 'user:carol' });
    try {
      const init = await request(carol, 'init', { md5: file.md5, size: file.data.length, name: 'guess.mov' });
      expect(init.ok && init.status).to.equal('prove');
      const { challenge, ranges } = init as unknown as ProveStatus;
      expect(ranges).to.have.length(PROOF_RANGES);
      expect(ranges.every(([start, end]) => end - start === PROOF_RANGE_BYTES && end <= file.data.length)).to.equal(true);
      const wrong = await request(carol, 'prove', { md5: file.md5, size: file.data.length, name: 'guess.mov', challenge, digest: 'f'.repeat(32) });
      expect(!wrong.ok && wrong.error.code).to.equal('E_PROOF');
      const forged = await request(carol, 'prove', { md5: file.md5, size: file.data.length, name: 'guess.mov', challenge: `${challenge.split('.').slice(0, 3).join('.')}.${'0'.repeat(32)}`, digest: 'f'.repeat(32) });
      expect(!forged.ok && forged.error.code).to.equal('E_PROOF');
      // merge and status answer as for content nobody stored
      const neverStored = md5Of(Buffer.from('never stored'));
      for (const md5 of [file.md5, neverStored]) {
        const merge = await request(carol, 'merge', { md5 });
        expect(!merge.ok && merge.error.code).to.equal('E_UNKNOWN_UPLOAD');
        const status = await request(carol, 'status', { md5 });
        expect(status.ok && status.status).to.equal('none');
      }
    } finally {
      carol.close();
    }
    expect(await list('user:carol')).to.deep.equal([]);

    // Watching would show every principal's uploads (names, md5s): only the watch role may.
    const uploader = await connect(server.url, { token: 'user:carol' });
    const operator = await connect(server.url, { token: 'watch:ops' });
    try {
      const refused = await request(uploader, 'watch', {});
      expect(!refused.ok && refused.error.code).to.equal('E_FORBIDDEN');
      expect((await request(operator, 'watch', {})).ok).to.equal(true);
    } finally {
      uploader.close();
      operator.close();
    }
  });

  it('metadata: round-trips through the upload, the listing and the hook; metadata beyond the limits is E_BAD_REQUEST and stores nothing', async () => {
    server = await startEmbedded();
    const file = await randomFile(dir.path, 70_000, 'meta.bin');
    const metadata = { 'content.lang': 'fr', caption: 'naïve café ☕', empty: '' };
    const result = await upload(file.path, { url: server.url, metadata, hashCache: false });
    expect(result.file.metadata).to.deep.equal(metadata);
    const listed = await (await fetch(`${server.url}/files`)).json() as { files: FileInfo[] };
    expect(listed.files[0]!.metadata).to.deep.equal(metadata);

    const socket = await connect(server.url);
    try {
      const other = await randomFile(dir.path, 1000, 'other.bin');
      const base = { md5: other.md5, size: 1000, name: 'other.bin' };
      const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
      for (const bad of [tooMany, { 'bad key': 'v' }, { k: 'x'.repeat(1025) }, { k: 1 }, { k: 'line\nbreak' }, ['v'], 'text']) {
        const answer = await request(socket, 'init', { ...base, metadata: bad });
        expect(!answer.ok && answer.error.code, JSON.stringify(bad).slice(0, 60)).to.equal('E_BAD_REQUEST');
      }
      expect(server.upwire.service.partialUploads).to.equal(0);
    } finally {
      socket.close();
    }
  });

  it('onUploadComplete is called again after a kill -9 between the stored file and the hook', async () => {
    const dirs = { uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') };
    const hookLog = join(dir.path, 'hook.log');
    await writeFile(hookLog, '');
    const start = (failpoint?: string) => {
      const child = spawn(process.execPath, [HOOK_SERVER], {
        env: { ...process.env, UPLOAD_DIR: dirs.uploadDir, DB_DIR: dirs.dbDir, HOOK_LOG: hookLog, ...(failpoint ? { UPWIRE_FAILPOINT: failpoint } : {}) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const url = new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const match = /listening on (http:\/\/\S+)/.exec(out);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code, signal) => reject(new Error(`hook server exited (${code ?? signal})`)));
      });
      return { child, url };
    };
    const lines = async () => (await readFile(hookLog, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { md5: string; name: string });
    const file = await randomFile(dir.path, 400_000, 'crash.bin');

    const doomed = start('before-complete-hook');
    const failed = upload(file.path, { url: await doomed.url, retries: 0, hashCache: false }).then(() => 'stored', (e: UpwireError) => e.code);
    expect(await exited(doomed.child)).to.deep.include({ signal: 'SIGKILL' });
    expect(await failed).to.not.equal('stored');
    expect(await lines(), 'the hook never ran before the crash').to.deep.equal([]);

    const restarted = start();
    const url = await restarted.url; // recovery ran before listening
    try {
      expect((await lines()).map((l) => [l.md5, l.name])).to.deep.equal([[file.md5, 'crash.bin']]);
      const again = await upload(file.path, { url, hashCache: false });
      expect(again.instant).to.equal(true);
      expect(await lines()).to.have.length(1);
    } finally {
      restarted.child.kill('SIGTERM');
      await exited(restarted.child);
    }
  });
});
