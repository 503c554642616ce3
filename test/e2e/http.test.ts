import { expect } from 'chai';
import { request } from 'node:http';
import { upload } from '../../src/client/node.js';
import { randomFile, tempDir } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('HTTP endpoints', () => {
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let file: Awaited<ReturnType<typeof randomFile>>;
  before(async () => {
    server = await startTestServer();
    dir = await tempDir();
    file = await randomFile(dir.path, 100_000);
    await upload(file.path, { url: server.url, name: 'résumé "final".pdf', type: 'application/pdf' });
  });
  after(async () => {
    await server.stop();
    await dir.remove();
  });

  it('GET /healthz', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ ok: true });
  });

  it('GET /files lists stored files', async () => {
    const body = (await (await fetch(`${server.url}/files`)).json()) as { files: Record<string, unknown>[] };
    expect(body.files).to.have.length(1);
    expect(body.files[0]).to.include({ md5: file.md5, size: 100_000, name: 'résumé "final".pdf', type: 'application/pdf', url: `/files/${file.md5}` });
  });

  it('GET /files/:md5 downloads with ETag, type and the stored name', async () => {
    const res = await fetch(`${server.url}/files/${file.md5.toUpperCase()}`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('etag')).to.equal(`"${file.md5}"`);
    expect(res.headers.get('content-type')).to.equal('application/pdf');
    expect(res.headers.get('content-disposition')).to.equal(`attachment; filename="r_sum_ _final_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf`);
    expect(Buffer.from(await res.arrayBuffer()).equals(file.data)).to.equal(true);
    const cached = await fetch(`${server.url}/files/${file.md5}`, { headers: { 'if-none-match': `"${file.md5}"` } });
    expect(cached.status).to.equal(304);
  });

  it('serves byte ranges', async () => {
    const res = await fetch(`${server.url}/files/${file.md5}`, { headers: { range: 'bytes=1000-1999' } });
    expect(res.status).to.equal(206);
    expect(res.headers.get('content-range')).to.equal('bytes 1000-1999/100000');
    expect(Buffer.from(await res.arrayBuffer()).equals(file.data.subarray(1000, 2000))).to.equal(true);
    const tail = await fetch(`${server.url}/files/${file.md5}`, { headers: { range: 'bytes=-10' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(file.data.subarray(-10))).to.equal(true);
    const beyond = await fetch(`${server.url}/files/${file.md5}`, { headers: { range: 'bytes=100000-' } });
    expect(beyond.status).to.equal(416);
    expect(beyond.headers.get('content-range')).to.equal('bytes */100000');
    const head = await fetch(`${server.url}/files/${file.md5}`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).to.equal('100000');
  });

  it('answers 400 for anything that is not an md5 and 404 for an md5 not stored', async () => {
    for (const path of ['/files/..%2F..%2Fetc%2Fpasswd', '/files/abc', '/files/%E0%A4%A', `/files/${file.md5}/x`]) {
      expect((await fetch(`${server.url}${path}`)).status, path).to.equal(400);
    }
    expect((await fetch(`${server.url}/files/${'0'.repeat(32)}`)).status).to.equal(404);
    expect((await fetch(`${server.url}/nothing-here`)).status).to.equal(404);
    expect((await fetch(`${server.url}/files`, { method: 'POST' })).status).to.equal(405);
  });

  it('reads the path as sent: empty and dot segments and backslashes are refused with 400, not resolved to a route', async () => {
    // fetch() would normalise these before sending them: node:http sends the path as given.
    const get = (path: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      request(`${server.url}/`, { path }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (piece: string) => (body += piece));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      }).on('error', reject).end();
    });
    for (const path of ['//evil.example/files', '/./files', '/x/../files', '/%2e%2e/files', '/files/%2e%2e', '/\\evil.example/files']) {
      const reply = await get(path);
      expect([reply.status, JSON.parse(reply.body).error.code], `${path}: ${reply.body}`).to.deep.equal([400, 'E_BAD_REQUEST']);
      expect(reply.body, path).not.to.include(file.md5);
    }
    expect((await get('/files')).body).to.include(file.md5);
  });
});
