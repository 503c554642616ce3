/*
 * Deleting stored files (issue 21): per principal (the caller's entry; the content with the last
 * entry), no oracle for a principal without an entry, a download under way served whole, a delete
 * racing a merge of the same md5, the hook and the watch event. A real server on port 0, real
 * sockets, LevelDB and files in a temp dir; the stores are the real ones, wrapped to record calls
 * and to hold a call at a gate.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { deleteFile, upload, watch, type DeletedEvent } from '../../src/client/node.js';
import { UpwireError, type FileInfo } from '../../src/protocol/index.js';
import { FileSystemBytes } from '../../src/server/bytes/file-system.js';
import type { ByteStore } from '../../src/server/bytes/types.js';
import type { FileDeletedEvent, UpwireOptions } from '../../src/server/index.js';
import { MemoryLocker } from '../../src/server/lock/memory.js';
import type { Locker } from '../../src/server/lock/types.js';
import { LevelStores } from '../../src/server/store/level.js';
import type { FileIndex } from '../../src/server/store/types.js';
import { startEmbedded, userTokens, type Embedded } from '../support/embedded.js';
import { eventually, md5Of, randomFile, storedPath, tempDir } from '../support/fixtures.js';
import { connect, ok, request, type RawSocket } from '../support/server.js';

const CHUNK = 64 * 1024; // startEmbedded's chunk size

/** Wraps a store so each call is recorded (name and first argument) and may be held at a gate. */
function instrument<T extends object>(target: T, calls: string[], gates: Map<string, Gate>): T {
  return new Proxy(target, {
    get(obj, prop) {
      const value = Reflect.get(obj, prop, obj) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(`${String(prop)}(${typeof args[0] === 'string' ? args[0] : typeof args[0]})`);
        const gate = gates.get(String(prop));
        if (!gate) return (value as (...a: unknown[]) => unknown).apply(obj, args);
        gates.delete(String(prop));
        return gate.hold().then(() => (value as (...a: unknown[]) => unknown).apply(obj, args));
      };
    },
  });
}

/** A call held until the test opens it: `reached` resolves when the call arrives. */
class Gate {
  #arrived!: () => void;
  #open!: () => void;
  readonly reached = new Promise<void>((resolve) => (this.#arrived = resolve));
  readonly #opened = new Promise<void>((resolve) => (this.#open = resolve));
  hold(): Promise<void> {
    this.#arrived();
    return this.#opened;
  }
  open(): void {
    this.#open();
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('delete: a principal deletes its own stored files', function () {
  this.timeout(60_000);
  let server: Embedded | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let level: LevelStores;
  let bytes: FileSystemBytes;
  let calls: string[];
  let gates: Map<string, Gate>;
  /** Keys asked of the locker, in order. */
  let lockKeys: string[];
  let lockAsked: ((key: string) => void) | undefined;
  const sockets: RawSocket[] = [];

  const start = async (options: UpwireOptions = {}) => {
    calls = [];
    gates = new Map();
    lockKeys = [];
    level = new LevelStores(join(dir.path, 'db'));
    await level.open();
    bytes = new FileSystemBytes(join(dir.path, 'uploads'));
    await bytes.open();
    const memory = new MemoryLocker();
    const locker: Locker = {
      acquire: (key, signal) => {
        lockKeys.push(key);
        lockAsked?.(key);
        return memory.acquire(key, signal);
      },
      close: () => memory.close(),
    };
    const files = instrument<FileIndex>(level, calls, gates);
    server = await startEmbedded({
      ...options, hooks: { authorize: userTokens, ...options.hooks },
      stores: { uploads: level, files, bytes: instrument<ByteStore>(bytes, calls, gates), locker },
    });
    return server;
  };
  const as = async (who: string) => {
    const socket = await connect(server!.url, { token: `user:${who}` });
    sockets.push(socket);
    return socket;
  };
  const put = (path: string, who: string) => upload(path, { url: server!.url, token: `user:${who}`, hashCache: false });
  const fetchAs = (who: string, md5: string, method = 'GET') => fetch(`${server!.url}/files/${md5}`, { method, headers: bearer(`user:${who}`) });
  const listOf = async (who: string) => ((await (await fetch(`${server!.url}/files`, { headers: bearer(`user:${who}`) })).json()) as { files: FileInfo[] }).files;

  beforeEach(async () => (dir = await tempDir()));
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.disconnect();
    await server?.stop();
    server = undefined;
    await bytes?.close();
    await level?.close();
    await dir.remove();
  });

  it('A deletes its entry and B still downloads the file; when B deletes too, both get 404 and the bytes are gone from disk', async () => {
    await start();
    const file = await randomFile(dir.path, 5 * CHUNK + 17);
    await put(file.path, 'alice');
    const bobs = await put(file.path, 'bob'); // an instant upload, after a proof of possession
    expect(bobs.instant).to.equal(true);
    const onDisk = storedPath(join(dir.path, 'uploads'), file.md5);

    expect(await deleteFile({ url: server!.url, token: 'user:alice', md5: file.md5.toUpperCase() })).to.deep.equal({ md5: file.md5 });
    expect((await fetchAs('alice', file.md5)).status).to.equal(404);
    expect(await listOf('alice')).to.deep.equal([]);
    const forBob = await fetchAs('bob', file.md5);
    expect(forBob.status).to.equal(200);
    expect(md5Of(Buffer.from(await forBob.arrayBuffer()))).to.equal(file.md5);
    expect((await listOf('bob')).map((f) => f.md5)).to.deep.equal([file.md5]);
    expect(existsSync(onDisk), 'the content stays for bob').to.equal(true);

    const deleted = await fetchAs('bob', file.md5, 'DELETE');
    expect(deleted.status).to.equal(200);
    expect(await deleted.json()).to.deep.equal({ md5: file.md5 });
    expect((await fetchAs('bob', file.md5)).status).to.equal(404);
    expect((await fetchAs('alice', file.md5)).status).to.equal(404);
    expect(existsSync(onDisk), 'the last entry gone: the bytes are gone').to.equal(false);
    expect(await level.getFile(file.md5), 'and the record').to.equal(undefined);
    const again = await fetchAs('bob', file.md5, 'DELETE');
    expect(again.status).to.equal(404);
    expect(((await again.json()) as { error: { code: string } }).error.code).to.equal('E_NOT_FOUND');

    // Stored again from scratch: a new upload, not an instant one.
    expect((await put(file.path, 'alice')).instant).to.equal(false);
    expect(existsSync(onDisk)).to.equal(true);
  });

  it('a principal without an entry gets exactly what an md5 nobody stored gets (HTTP and socket), by the same lookups, and changes nothing', async () => {
    await start();
    const file = await randomFile(dir.path, 3 * CHUNK);
    await put(file.path, 'alice');
    const nobody = 'f'.repeat(32);
    const same = (text: string, md5: string) => text.replaceAll(md5, '<md5>');

    const traces: { status: number; body: string; calls: string[]; locks: string[] }[] = [];
    for (const md5 of [file.md5, nobody]) {
      calls.length = 0;
      lockKeys.length = 0;
      const res = await fetchAs('mallory', md5, 'DELETE');
      traces.push({ status: res.status, body: same(await res.text(), md5), calls: calls.map((c) => same(c, md5)), locks: [...lockKeys] });
    }
    expect(traces[0]!.status).to.equal(404);
    expect(traces[0]).to.deep.equal(traces[1]);
    expect(traces[0]!.locks, 'no lock is taken for content the caller has no entry of').to.deep.equal([]);
    expect(traces[0]!.calls).to.deep.equal(['getEntry(mallory)']);

    const mallory = await as('mallory');
    const answers = [];
    for (const md5 of [file.md5, nobody]) {
      const result = await request(mallory, 'delete', { md5 });
      answers.push(same(JSON.stringify(result), md5));
    }
    expect(answers[0]).to.equal(answers[1]);
    expect(JSON.parse(answers[0]!)).to.deep.include({ ok: false });
    expect(JSON.parse(answers[0]!).error.code).to.equal('E_NOT_FOUND');

    const forAlice = await fetchAs('alice', file.md5);
    expect(forAlice.status).to.equal(200);
    expect(md5Of(Buffer.from(await forAlice.arrayBuffer()))).to.equal(file.md5);
  });

  it('refuses bad input with E_BAD_REQUEST, the watch role and unknown callers, changing nothing', async () => {
    await start();
    const file = await randomFile(dir.path, CHUNK);
    await put(file.path, 'alice');
    const alice = await as('alice');
    for (const payload of [{}, { md5: 'x' }, { md5: file.md5.slice(1) }, null, [file.md5]]) {
      const result = await request(alice, 'delete', payload);
      expect(result.ok, JSON.stringify(payload)).to.equal(false);
      if (!result.ok) expect(result.error.code).to.equal('E_BAD_REQUEST');
    }
    expect((await fetchAs('alice', 'not-an-md5', 'DELETE')).status).to.equal(400);
    expect((await fetch(`${server!.url}/files/${file.md5}`, { method: 'DELETE' })).status).to.equal(401);
    expect((await fetch(`${server!.url}/files/${file.md5}`, { method: 'DELETE', headers: bearer('watch:w') })).status).to.equal(401);
    const watcher = await connect(server!.url, { token: 'watch:w' });
    sockets.push(watcher);
    const refused = await request(watcher, 'delete', { md5: file.md5 });
    expect(refused.ok ? 'ok' : refused.error.code).to.equal('E_UNAUTHORIZED');
    expect((await fetchAs('alice', file.md5)).status).to.equal(200);
  });

  it('calls onFileDeleted (within the hook timeout) and tells watchers: deleted, stored while another entry is left', async () => {
    const told: FileDeletedEvent[] = [];
    let hang = false;
    await start({
      hookTimeoutMs: 500,
      hooks: {
        onFileDeleted: async (event) => {
          told.push(event);
          if (hang) await new Promise(() => {});
        },
      },
    });
    const emitted: FileDeletedEvent[] = [];
    server!.upwire.events.on('file:deleted', (event) => emitted.push(event));
    const file = await randomFile(dir.path, 2 * CHUNK, 'shared.bin');
    await put(file.path, 'alice');
    await upload(file.path, { url: server!.url, token: 'user:bob', hashCache: false, name: 'bobs-name.bin' });
    const watcher = await watch({ url: server!.url, token: 'watch:w' });
    const seen: DeletedEvent[] = [];
    watcher.on('deleted', (event) => seen.push(event));
    try {
      await deleteFile({ url: server!.url, token: 'user:bob', md5: file.md5 });
      hang = true;
      const late = await deleteFile({ url: server!.url, token: 'user:alice', md5: file.md5 }).then(() => undefined, (err: UpwireError) => err);
      expect(late?.code, 'a hook that does not answer in time').to.equal('E_BUSY');
      await eventually(() => seen.length === 2, 10_000, 'two deleted events');
    } finally {
      watcher.close();
    }
    expect(told.map((e) => [e.principal.id, e.file.name, e.file.md5, e.stored])).to.deep.equal([
      ['bob', 'bobs-name.bin', file.md5, true],
      ['alice', 'shared.bin', file.md5, false],
    ]);
    expect(emitted.map((e) => e.principal.id)).to.deep.equal(['bob', 'alice']);
    expect(seen).to.deep.equal([{ md5: file.md5, stored: true }, { md5: file.md5, stored: false }]);
    expect((await fetchAs('alice', file.md5)).status, 'the deletion stands when the hook fails').to.equal(404);
  });

  it('serves a download under way whole when its file is deleted mid-stream (a paused reader), then removes the bytes', async () => {
    await start();
    const file = await randomFile(dir.path, 32 * 1024 * 1024);
    await put(file.path, 'alice');
    const onDisk = storedPath(join(dir.path, 'uploads'), file.md5);
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      httpGet(`${server!.url}/files/${file.md5}`, { headers: bearer('user:alice') }, resolve).once('error', reject);
    });
    try {
      await readAcrossDelete(response, file, onDisk);
    } finally {
      response.destroy(); // a failed check must not leave the server a reader that never reads
    }
    await eventually(() => !existsSync(onDisk), 10_000, 'the bytes removed once the download ended');
    expect(await level.getFile(file.md5)).to.equal(undefined);
  });

  /** Reads a first piece of the download, stops, deletes the file, then reads the rest: the whole file. */
  async function readAcrossDelete(response: IncomingMessage, file: { md5: string; data: Buffer }, onDisk: string): Promise<void> {
    expect(response.statusCode).to.equal(200);
    // Read a first piece, then stop reading: the server's stream waits on a full socket.
    const parts: Buffer[] = [];
    const first = await new Promise<Buffer>((resolve) => response.once('data', resolve));
    response.pause();
    parts.push(first);
    const deleted = await fetchAs('alice', file.md5, 'DELETE');
    expect(deleted.status).to.equal(200);
    expect((await fetchAs('alice', file.md5)).status, 'no new download starts').to.equal(404);
    expect(existsSync(onDisk), 'the bytes wait for the download').to.equal(true);
    response.on('data', (part: Buffer) => parts.push(part));
    const ended = new Promise<void>((resolve, reject) => response.once('end', resolve).once('error', reject));
    response.resume();
    await ended;
    const body = Buffer.concat(parts);
    expect(first.length, 'the delete came mid-stream').to.be.below(file.data.length);
    expect(body.length).to.equal(file.data.length);
    expect(md5Of(body)).to.equal(file.md5);
  }

  /** Bob's own upload of `data`, every chunk sent, its merge not asked yet (started before anyone stored the content). */
  async function bobsUploadReady(data: Buffer, md5: string): Promise<RawSocket> {
    const bob = await as('bob');
    expect((await ok(bob, 'init', { md5, size: data.length, name: 'b.bin' })).status).to.equal('partial');
    const total = Math.ceil(data.length / CHUNK);
    for (let index = 0; index < total; index++) await ok(bob, 'chunk', { md5, index, total, data: data.subarray(index * CHUNK, (index + 1) * CHUNK) });
    return bob;
  }

  /** Resolves when someone asks for the lock of md5's stored file. */
  const fileLockAsked = (md5: string) => new Promise<void>((resolve) => (lockAsked = (key) => key === `file:${md5}` && resolve()));

  it('a delete racing a merge of the same md5: the merge waits for the delete\'s lock, then stores its own bytes (a record with its bytes)', async () => {
    await start();
    const file = await randomFile(dir.path, 4 * CHUNK);
    const bob = await bobsUploadReady(file.data, file.md5);
    await put(file.path, 'alice');
    const gate = new Gate();
    gates.set('removeStored', gate); // alice's delete, holding the file's lock, before its bytes go
    const deleting = fetchAs('alice', file.md5, 'DELETE');
    await gate.reached;
    const asked = fileLockAsked(file.md5);
    const merging = request(bob, 'merge', { md5: file.md5 });
    await asked;
    gate.open();
    expect((await deleting).status).to.equal(200);
    const merged = await merging;
    expect(merged.ok).to.equal(true);
    expect(await level.getFile(file.md5), 'the record').to.not.equal(undefined);
    expect(await bytes.storedSize(file.md5), 'and its bytes').to.equal(file.data.length);
    const forBob = await fetchAs('bob', file.md5);
    expect(md5Of(Buffer.from(await forBob.arrayBuffer()))).to.equal(file.md5);
    expect((await fetchAs('alice', file.md5)).status).to.equal(404);
  });

  it('a merge racing a delete of the same md5: the delete waits for the merge\'s lock, and the content stays for the merged principal', async () => {
    await start();
    const file = await randomFile(dir.path, 4 * CHUNK);
    const bob = await bobsUploadReady(file.data, file.md5);
    await put(file.path, 'alice');
    const gate = new Gate();
    gates.set('putEntry', gate); // bob's merge, holding the file's lock, before his entry is written
    const merging = request(bob, 'merge', { md5: file.md5 });
    await gate.reached;
    const asked = fileLockAsked(file.md5);
    const deleting = fetchAs('alice', file.md5, 'DELETE');
    await asked;
    gate.open();
    expect((await merging).ok).to.equal(true);
    expect((await deleting).status).to.equal(200);
    expect(await bytes.storedSize(file.md5)).to.equal(file.data.length);
    const forBob = await fetchAs('bob', file.md5);
    expect(forBob.status).to.equal(200);
    expect(md5Of(Buffer.from(await forBob.arrayBuffer()))).to.equal(file.md5);
  });

  it('a delete racing an instant upload (a proof) of the same md5: the proof finds the content gone and adds no entry; sent again, it is stored in full', async () => {
    await start();
    const file = await randomFile(dir.path, 4 * CHUNK);
    await put(file.path, 'alice');
    const gate = new Gate();
    gates.set('removeStored', gate);
    const deleting = fetchAs('alice', file.md5, 'DELETE');
    await gate.reached;
    const asked = fileLockAsked(file.md5);
    // Bob's init is answered with a challenge (the record is there), his proof checks out against bytes still there.
    const bobs = put(file.path, 'bob');
    await asked;
    gate.open();
    expect((await deleting).status).to.equal(200);
    expect(await bobs.then(() => 'stored', (err: UpwireError) => err.code)).to.equal('E_UNKNOWN_UPLOAD');
    expect(await level.getEntry('bob', file.md5), 'no entry').to.equal(undefined);
    expect(await level.getFile(file.md5), 'no record').to.equal(undefined);
    expect(await bytes.storedSize(file.md5), 'no bytes').to.equal(undefined);
    expect((await put(file.path, 'bob')).instant).to.equal(false);
    expect((await fetchAs('bob', file.md5)).status).to.equal(200);
  });
});
