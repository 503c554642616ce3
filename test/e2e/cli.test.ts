import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { randomFile, tempDir } from '../support/fixtures.js';
import { CLI, startTestServer, type TestServer } from '../support/server.js';

interface Run { code: number; stdout: string; stderr: string }

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('CLI: upwire upload', () => {
  let server: TestServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    server = await startTestServer();
    dir = await tempDir();
  });
  after(async () => {
    await server.stop();
    await dir.remove();
  });

  it('uploads files, then reports an instant re-upload', async () => {
    const a = await randomFile(dir.path, 300_000, 'a.bin');
    const b = await randomFile(dir.path, 1, 'b.bin');
    const first = await run(['upload', a.path, b.path, '--url', server.url, '--chunk-size', '64K', '--max-in-flight', '128K']);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stderr).to.match(/done {3}.*a\.bin: 293\.0 KiB in [\d.]+ s, sent 293\.0 KiB in 5 chunks/);
    expect(first.stderr).to.match(/done {3}.*b\.bin/);
    const lines = first.stdout.trim().split('\n').map((l) => JSON.parse(l) as { md5: string; instant: boolean });
    expect(lines.map((l) => l.md5)).to.deep.equal([a.md5, b.md5]);
    const res = await fetch(`${server.url}/files/${a.md5}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(a.data)).to.equal(true);

    const again = await run(['upload', a.path, '--url', server.url]);
    expect(again.code).to.equal(0);
    expect(again.stderr).to.match(/instant .*a\.bin: already on the server/);
    expect(JSON.parse(again.stdout)).to.include({ instant: true, chunksSent: 0 });
  });

  it('--parallel uploads the files at once over one connection; every file is stored exactly', async () => {
    const files = await Promise.all([0, 1, 2, 3].map((i) => randomFile(dir.path, 200_000 + i, `p${i}.bin`)));
    const result = await run(['upload', ...files.map((f) => f.path), '--url', server.url, '--chunk-size', '64K', '--parallel', '4', '--no-hash-cache']);
    expect(result.code, result.stderr).to.equal(0);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { md5: string; instant: boolean });
    expect(lines.map((l) => l.md5).sort()).to.deep.equal(files.map((f) => f.md5).sort());
    for (const file of files) {
      const res = await fetch(`${server.url}/files/${file.md5}`);
      expect(Buffer.from(await res.arrayBuffer()).equals(file.data), file.path).to.equal(true);
    }
  });

  it('fails with a one-line reason and exit 1 when the server is unreachable', async () => {
    const a = await randomFile(dir.path, 10, 'c.bin');
    const result = await run(['upload', a.path, '--url', 'http://127.0.0.1:9', '--retries', '1']);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/failed .*c\.bin: cannot reach http:\/\/127\.0\.0\.1:9.* \[E_UNREACHABLE\]/);
  });

  it('fails with exit 1 for a missing file', async () => {
    const result = await run(['upload', join(dir.path, 'nope.bin'), '--url', server.url]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/failed .*nope\.bin: cannot open .*ENOENT \[E_FILE\]/);
  });

  it('fails with exit 1 when the server refuses the file', async () => {
    const small = await startTestServer({ maxFileSize: 100 });
    try {
      const a = await randomFile(dir.path, 101, 'd.bin');
      const result = await run(['upload', a.path, '--url', small.url]);
      expect(result.code).to.equal(1);
      expect(result.stderr).to.match(/failed .*d\.bin: 101 bytes is above the limit of 100 bytes \[E_TOO_LARGE\]/);
    } finally {
      await small.stop();
    }
  });

  it('explains usage and bad configuration with exit 2', async () => {
    expect((await run(['upload', 'x'])).stderr).to.equal('upwire: no server: give --url or UPWIRE_URL (see upwire upload --help)\n');
    const bad = await run(['serve', '--port', '0', '--chunk-size', '12']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/CHUNK_SIZE \(--chunk-size\) = "12": must be between/);
    const badEnv = await run(['serve'], { PARTIAL_TTL: 'never' });
    expect(badEnv.stderr).to.match(/PARTIAL_TTL/);
  });
});
