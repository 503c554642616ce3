/*
 * Deleting in Redis mode: two nodes (two embedded upwires) share a redis-server and the upload
 * directory; a principal deletes on one node what the other stored, the per-principal rules hold
 * across nodes, and the content goes with the last entry. Skipped without redis-server.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { deleteFile, upload } from '../../src/client/node.js';
import { startEmbedded, userTokens, type Embedded } from '../support/embedded.js';
import { md5Of, randomFile, skipWithout, storedPath, tempDir } from '../support/fixtures.js';
import { redisUnavailable, startRedis, type RedisServer } from '../support/redis.js';

describe('delete in Redis mode (two nodes, a real redis-server)', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const nodes: Embedded[] = [];

  before(async function () {
    skipWithout(this, redisUnavailable());
    redis = await startRedis();
  });
  after(() => redis?.stop());
  beforeEach(async () => (dir = await tempDir()));
  afterEach(async () => {
    for (const node of nodes.splice(0)) await node.stop();
    await dir.remove();
  });

  it('A deletes on node 2 what it stored on node 1; B still downloads; B\'s delete removes record and bytes for both nodes', async () => {
    const dirs = { uploadDir: join(dir.path, 'uploads'), dbDir: join(dir.path, 'db') };
    for (let i = 0; i < 2; i++) nodes.push(await startEmbedded({ redisUrl: redis.url, hooks: { authorize: userTokens } }, dirs));
    const [one, two] = nodes as [Embedded, Embedded];
    const file = await randomFile(dir.path, 300_000);
    await upload(file.path, { url: one.url, token: 'user:alice', hashCache: false });
    expect((await upload(file.path, { url: two.url, token: 'user:bob', hashCache: false })).instant).to.equal(true);
    const get = (node: Embedded, who: string) => fetch(`${node.url}/files/${file.md5}`, { headers: { authorization: `Bearer user:${who}` } });

    const mallory = await deleteFile({ url: two.url, token: 'user:mallory', md5: file.md5 }).catch((err: { code: string }) => err.code);
    expect(mallory).to.equal('E_NOT_FOUND');
    await deleteFile({ url: two.url, token: 'user:alice', md5: file.md5 });
    expect((await get(one, 'alice')).status).to.equal(404);
    const forBob = await get(one, 'bob');
    expect(md5Of(Buffer.from(await forBob.arrayBuffer()))).to.equal(file.md5);

    await deleteFile({ url: one.url, token: 'user:bob', md5: file.md5 });
    for (const node of nodes) expect((await get(node, 'bob')).status).to.equal(404);
    expect(existsSync(storedPath(dirs.uploadDir, file.md5))).to.equal(false);
    expect((await upload(file.path, { url: two.url, token: 'user:bob', hashCache: false })).instant, 'stored again in full').to.equal(false);
  });
});
