import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { md5Of, tempDir } from '../support/fixtures.js';
import { connect, ok, request, startTestServer, type TestServer } from '../support/server.js';

const CHUNK = 64 * 1024;

/** A 4 MiB tmpfs, so the disk can really be filled; false where this machine cannot mount. */
function mountSmallDisk(path: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', path], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('disk full (ENOSPC) on a real size-limited filesystem (uploads and LevelDB)', function () {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let disk: string;
  let mounted = false;
  let server: TestServer | undefined;

  before(async function () {
    dir = await tempDir();
    disk = join(dir.path, 'disk');
    await mkdir(disk);
    mounted = mountSmallDisk(disk);
    if (!mounted) {
      console.log('      (skipped: this machine cannot mount a tmpfs; run as root to test ENOSPC)');
      this.skip();
    }
  });
  after(async () => {
    await server?.stop();
    if (mounted) execFileSync('umount', [disk]);
    await dir.remove();
  });

  it('answers a chunk write that hits ENOSPC with retryable E_NO_SPACE, keeps running, and resumes when space returns', async () => {
    server = await startTestServer({ uploadDir: join(disk, 'uploads'), dbDir: join(disk, 'db'), chunkSize: CHUNK, fsync: true });
    const data = Buffer.alloc(16 * CHUNK, 5);
    for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
    const md5 = md5Of(data);
    const socket = await connect(server.url);
    try {
      await ok(socket, 'init', { md5, size: data.length, name: 'big.bin' });
      const send = (index: number) => request(socket, 'chunk', { md5, index, total: 16, data: data.subarray(index * CHUNK, (index + 1) * CHUNK) });
      expect((await send(0)).ok).to.equal(true);
      // fill the rest of the disk
      const filler = join(disk, 'filler');
      await writeFile(filler, Buffer.alloc(4 * 1024 * 1024)).catch(() => {});
      const refused = await send(1);
      expect(refused.ok || refused.error.code).to.equal('E_NO_SPACE');
      // LevelDB writes on the full disk: zero-byte uploads pass the free-space check, and their
      // records fill what is left of the log's last page until a write hits ENOSPC
      const codes = new Set<string>();
      for (let i = 0; i < 500 && !codes.has('E_NO_SPACE'); i++) {
        const answer = await request(socket, 'init', { md5: i.toString(16).padStart(32, 'e'), size: 0, name: `empty-${i}` });
        codes.add(answer.ok ? 'ok' : answer.error.code);
      }
      expect([...codes].filter((c) => c !== 'ok')).to.deep.equal(['E_NO_SPACE']);
      const zero = md5Of(Buffer.alloc(0));
      expect((await fetch(`${server.url}/healthz`)).status).to.equal(200);
      expect(await ok(socket, 'status', { md5 })).to.deep.include({ missing: [[1, 16]] });
      // space returns: the same upload goes on
      await rm(filler);
      expect(await ok(socket, 'init', { md5: zero, size: 0, name: 'empty' })).to.deep.include({ status: 'partial' });
      for (let index = 1; index < 16; index++) expect((await send(index)).ok, `chunk ${index}`).to.equal(true);
      expect(await ok(socket, 'merge', { md5 })).to.deep.include({ status: 'complete' });
      const res = await fetch(`${server.url}/files/${md5}`);
      expect(md5Of(Buffer.from(await res.arrayBuffer()))).to.equal(md5);
    } finally {
      socket.disconnect();
    }
  });

  it('refuses at init an upload that does not fit the free space (E_NO_SPACE), creating nothing', async () => {
    const socket = await connect(server!.url);
    try {
      const refused = await request(socket, 'init', { md5: md5Of(Buffer.from('huge')), size: 8 * 1024 * 1024, name: 'huge.bin' });
      expect(refused.ok || refused.error.code).to.equal('E_NO_SPACE');
      expect(await ok(socket, 'status', { md5: md5Of(Buffer.from('huge')) })).to.deep.equal({ ok: true, status: 'none' });
    } finally {
      socket.disconnect();
    }
  });
});
