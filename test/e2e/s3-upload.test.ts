/*
 * upwire serve with its files in object storage (S3_BUCKET) against a real radosgw: uploads end
 * to end, an instant re-upload, a kill -9 mid-upload and a resume, S3 stopped mid-upload and back,
 * and two nodes in Redis mode with no shared directory (each its own UPLOAD_DIR, for its spool).
 */
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { createUploader, upload, watch } from '../../src/client/node.js';
import { MiB, type ProgressEvent } from '../../src/protocol/index.js';
import { eventually, md5Of, randomFile, skipWithout, tempDir } from '../support/fixtures.js';
import { radosgwUnavailable, startRadosgw, type Radosgw } from '../support/radosgw.js';
import { redisUnavailable, startRedis, type RedisServer } from '../support/redis.js';
import { CLI, connect, exited, ok, spawnServer } from '../support/server.js';

const CHUNK = 5 * MiB;

describe('object storage: upwire serve with S3_BUCKET (a real radosgw)', function () {
  this.timeout(180_000);
  let rgw: Radosgw;
  let s3: S3Client;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let bucket: string;
  const children: ChildProcess[] = [];

  before(async function () {
    skipWithout(this, radosgwUnavailable());
    rgw = await startRadosgw();
    s3 = new S3Client(rgw.clientConfig);
  });
  after(async () => {
    s3?.destroy();
    await rgw?.stop();
  });
  beforeEach(async () => {
    dir = await tempDir();
    bucket = await rgw.createBucket();
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await dir.remove();
  });

  const env = (more: Record<string, string> = {}) => ({
    S3_BUCKET: bucket, S3_ENDPOINT: rgw.endpoint, S3_REGION: rgw.region,
    AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    CHUNK_SIZE: String(CHUNK), FSYNC: 'off', LOG_LEVEL: 'warn', ...more,
  });
  const serve = async (name: string, more: Record<string, string> = {}) => {
    const server = await spawnServer({ uploadDir: join(dir.path, `${name}-uploads`), dbDir: join(dir.path, `${name}-db`) }, env(more));
    children.push(server.child);
    return server;
  };
  const keys = async (prefix: string) => {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (listed.Contents ?? []).map((o) => o.Key!);
  };

  it('deletes a stored file: its object goes from the bucket, after a download under way (a paused reader) got it whole', async () => {
    const server = await serve('a', { UPLOAD_TOKEN: 'up' });
    const file = await randomFile(dir.path, 3 * CHUNK + 7);
    await upload(file.path, { url: server.url, token: 'up', hashCache: false });
    const auth = { authorization: 'Bearer up' };
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      httpGet(`${server.url}/files/${file.md5}`, { headers: auth }, resolve).once('error', reject);
    });
    try {
      const parts = [await new Promise<Buffer>((resolve) => response.once('data', resolve))];
      response.pause();
      expect((await fetch(`${server.url}/files/${file.md5}`, { method: 'DELETE', headers: auth })).status).to.equal(200);
      expect((await fetch(`${server.url}/files/${file.md5}`, { headers: auth })).status).to.equal(404);
      expect(await keys('upwire/files/'), 'the object waits for the download').to.deep.equal([`upwire/files/${file.md5}`]);
      response.on('data', (part: Buffer) => parts.push(part));
      const ended = new Promise<void>((resolve, reject) => response.once('end', resolve).once('error', reject));
      response.resume();
      await ended;
      expect(md5Of(Buffer.concat(parts))).to.equal(file.md5);
    } finally {
      response.destroy();
    }
    await eventually(async () => (await keys('upwire/files/')).length === 0, 20_000, 'the object deleted');
    expect((await upload(file.path, { url: server.url, token: 'up', hashCache: false })).instant, 'stored again in full').to.equal(false);
  });

  it('stores a file in the bucket, serves it exact, re-uploads it instantly, and leaves no staging object or spool', async () => {
    const server = await serve('a');
    const file = await randomFile(dir.path, 4 * CHUNK + 12_345);
    const first = await upload(file.path, { url: server.url, hashCache: false });
    expect(first).to.deep.include({ instant: false, bytesSent: file.data.length });
    expect(await keys('upwire/files/')).to.deep.equal([`upwire/files/${file.md5}`]);
    const download = await fetch(`${server.url}/files/${file.md5}`);
    expect(md5Of(Buffer.from(await download.arrayBuffer()))).to.equal(file.md5);
    const ranged = await fetch(`${server.url}/files/${file.md5}`, { headers: { range: 'bytes=6000000-6000009' } });
    expect(ranged.status).to.equal(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(file.data.subarray(6_000_000, 6_000_010))).to.equal(true);
    expect((await upload(file.path, { url: server.url, hashCache: false })).instant).to.equal(true);
    expect(await keys('upwire/uploads/')).to.deep.equal([]);
    expect(await readdir(join(dir.path, 'a-uploads', '.spool'))).to.deep.equal([]);
    expect((await fetch(`${server.url}/readyz`)).status).to.equal(200);
  });

  it('serves a download as a redirect to a presigned URL with DOWNLOADS=redirect, named as uploaded', async () => {
    const server = await serve('r', { DOWNLOADS: 'redirect' });
    const file = await randomFile(dir.path, CHUNK + 99, 'été.bin');
    await upload(file.path, { url: server.url, hashCache: false });
    const answer = await fetch(`${server.url}/files/${file.md5}`, { redirect: 'manual' });
    expect(answer.status).to.equal(302);
    const location = answer.headers.get('location')!;
    expect(location.startsWith(rgw.endpoint)).to.equal(true);
    const followed = await fetch(location);
    expect(followed.headers.get('content-disposition')).to.include("filename*=UTF-8''%C3%A9t%C3%A9.bin");
    expect(md5Of(Buffer.from(await followed.arrayBuffer()))).to.equal(file.md5);
  });

  it('aborts the multipart upload of an upload that expires, and fails /readyz while S3 is away', async () => {
    const server = await serve('e', { PARTIAL_TTL: '1s' });
    const socket = await connect(server.url);
    await ok(socket, 'init', { md5: 'ab'.repeat(16), size: 3 * CHUNK, name: 'left.bin' });
    await ok(socket, 'chunk', { md5: 'ab'.repeat(16), index: 0, total: 3, offset: 0, data: Buffer.alloc(MiB) });
    socket.disconnect();
    const pending = async () => (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads?.length ?? 0;
    expect(await pending()).to.equal(1);
    await eventually(async () => (await pending()) === 0, 20_000, 'the expired upload\'s multipart upload to be aborted');
    await rgw.stopGateway();
    try {
      expect((await fetch(`${server.url}/readyz`)).status).to.equal(503);
    } finally {
      await rgw.startGateway();
    }
    await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, 20_000, '/readyz once S3 is back');
  });

  it('refuses to start on a bucket that does not exist: one line, exit 2', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--upload-dir', join(dir.path, 'x-uploads'), '--db-dir', join(dir.path, 'x-db')], {
      env: { ...process.env, ...env({ S3_BUCKET: 'no-such-bucket' }) }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const { code } = await exited(child);
    expect(code).to.equal(2);
    expect(stderr.trim().split('\n')).to.have.length(1);
    expect(stderr).to.match(/S3_BUCKET no-such-bucket .*does not exist/);
  });

  it('resumes after a kill -9 mid-upload, sending only what S3 does not hold', async () => {
    const file = await randomFile(dir.path, 6 * CHUNK);
    const dirs = { uploadDir: join(dir.path, 'k-uploads'), dbDir: join(dir.path, 'k-db') };
    let server = await spawnServer(dirs, env());
    const socket = await connect(server.url);
    await ok(socket, 'init', { md5: file.md5, size: file.data.length, name: 'big.bin' });
    for (let index = 0; index < 3; index++) {
      for (let offset = 0; offset < CHUNK; offset += MiB) {
        await ok(socket, 'chunk', { md5: file.md5, index, total: 6, offset, data: file.data.subarray(index * CHUNK + offset, index * CHUNK + offset + MiB) });
      }
    }
    socket.disconnect();
    server.child.kill('SIGKILL');
    await exited(server.child);
    server = await spawnServer(dirs, env());
    children.push(server.child);
    const resumed = await upload(file.path, { url: server.url, hashCache: false });
    expect(resumed.bytesSent, 'only the 3 missing chunks').to.equal(3 * CHUNK);
    const download = await fetch(`${server.url}/files/${file.md5}`);
    expect(md5Of(Buffer.from(await download.arrayBuffer()))).to.equal(file.md5);
    expect(await keys('upwire/uploads/')).to.deep.equal([]);
  });

  it('rides out S3 stopped mid-upload: only retryable errors, then the exact bytes once it is back', async () => {
    const server = await serve('f');
    const file = await randomFile(dir.path, 8 * CHUNK);
    const uploader = await createUploader(file.path, { url: server.url, hashCache: false });
    const codes: string[] = [];
    uploader.on('retry', ({ error }) => codes.push(error.code));
    let stopped = false;
    uploader.on('progress', (p) => {
      if (!stopped && p.bytes > 2 * CHUNK) {
        stopped = true;
        void rgw.stopGateway().then(() => new Promise((r) => setTimeout(r, 3000))).then(() => rgw.startGateway());
      }
    });
    const result = await uploader.start();
    expect(stopped).to.equal(true);
    expect(codes.length, 'the outage was seen').to.be.above(0);
    for (const code of codes) expect(['E_BUSY', 'E_DISCONNECTED', 'E_TIMEOUT', 'E_INTERNAL']).to.include(code);
    expect(result.file.md5).to.equal(file.md5);
    const download = await fetch(`${server.url}/files/${file.md5}`);
    expect(md5Of(Buffer.from(await download.arrayBuffer()))).to.equal(file.md5);
  });

  it('two nodes in Redis mode with no shared directory: a client switched from one to the other mid-upload, a kill -9, a watcher on the other node', async function () {
    skipWithout(this, redisUnavailable());
    const redis: RedisServer = await startRedis();
    try {
      const a = await serve('node-a', { REDIS_URL: redis.url });
      const b = await serve('node-b', { REDIS_URL: redis.url });
      const file = await randomFile(dir.path, 6 * CHUNK + 777);
      const seen: string[] = [];
      const watcher = await watch({ url: b.url });
      watcher.on('progress', (p: ProgressEvent) => seen.push(`progress ${p.md5}`));
      watcher.on('complete', ({ md5 }: { md5: string }) => seen.push(`complete ${md5}`));
      // 3 chunks through node A, which is then killed -9
      const socket = await connect(a.url);
      await ok(socket, 'init', { md5: file.md5, size: file.data.length, name: 'two-nodes.bin' });
      for (let index = 0; index < 3; index++) {
        for (let offset = 0; offset < CHUNK; offset += MiB) {
          await ok(socket, 'chunk', { md5: file.md5, index, total: 7, offset, data: file.data.subarray(index * CHUNK + offset, index * CHUNK + offset + MiB) });
        }
      }
      socket.disconnect();
      a.child.kill('SIGKILL');
      // the client goes on through node B: it sends only the chunks A did not store
      const resumed = await upload(file.path, { url: b.url, hashCache: false });
      expect(resumed.bytesSent).to.equal(file.data.length - 3 * CHUNK);
      const download = await fetch(`${b.url}/files/${file.md5}`);
      expect(md5Of(Buffer.from(await download.arrayBuffer()))).to.equal(file.md5);
      await eventually(() => seen.includes(`complete ${file.md5}`), 10_000, 'the watcher on B to see it complete');
      watcher.close();
      expect(await keys('upwire/uploads/')).to.deep.equal([]);
    } finally {
      await redis.stop();
    }
  });
});
