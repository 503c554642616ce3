/*
 * The S3 byte store against a real S3 implementation (Ceph radosgw from Debian: a monitor, an OSD
 * on memstore and radosgw on loopback, test/support/radosgw.ts): the contract every byte store
 * passes, then what only object storage can do wrong (its parts, its faults, its start checks).
 */
import { expect } from 'chai';
import { S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { S3Bytes } from '../../src/server/bytes/s3.js';
import { MiB } from '../../src/protocol/index.js';
import { byteStoreContract } from '../contract/byte-store.js';
import { skipWithout, tempDir } from '../support/fixtures.js';
import { radosgwUnavailable, startRadosgw, type Radosgw } from '../support/radosgw.js';

const CHUNK = 5 * MiB;

describe('S3 byte store (a real radosgw)', function () {
  this.timeout(120_000);
  let rgw: Radosgw;
  let client: S3Client;

  before(async function () {
    skipWithout(this, radosgwUnavailable());
    rgw = await startRadosgw();
    client = new S3Client(rgw.clientConfig);
  });
  after(async () => {
    client?.destroy();
    await rgw?.stop();
  });

  const store = async (bucket?: string) => {
    const dir = await tempDir();
    const name = bucket ?? (await rgw.createBucket());
    return {
      dir,
      bytes: new S3Bytes({ bucket: name, endpoint: rgw.endpoint, region: rgw.region, spoolDir: join(dir.path, 'spool'), client }),
    };
  };

  byteStoreContract('S3 (radosgw)', async () => {
    const { dir, bytes } = await store();
    return { store: bytes, chunkSize: CHUNK, cleanup: dir.remove };
  });

  it('refuses to start on a bucket that does not exist, naming it', async () => {
    const { dir, bytes } = await store('no-such-bucket-here');
    const err = await bytes.open().then(() => undefined, (e: unknown) => e as Error);
    expect(err?.name).to.equal('ConfigError');
    expect(err?.message).to.match(/no-such-bucket-here.*does not exist/);
    await dir.remove();
  });

  it('refuses to start with credentials the bucket refuses', async () => {
    const dir = await tempDir();
    const bucket = await rgw.createBucket();
    const wrong = new S3Client({ ...rgw.clientConfig, credentials: { accessKeyId: 'nobody', secretAccessKey: 'wrong' } });
    const bytes = new S3Bytes({ bucket, endpoint: rgw.endpoint, spoolDir: join(dir.path, 'spool'), client: wrong });
    const err = await bytes.open().then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).to.match(/refuses these credentials/);
    wrong.destroy();
    await dir.remove();
  });

  it('answers a part sent while S3 is down with a retryable StoreUnavailable, and the chunk goes through once it is back', async () => {
    const { dir, bytes } = await store();
    await bytes.open();
    const data = randomBytes(2 * CHUNK);
    const handle = await bytes.begin('c'.repeat(32), { size: data.length, chunkSize: CHUNK });
    const partial = bytes.partial('c'.repeat(32), handle);
    await partial.write(0, data.subarray(0, CHUNK));
    await rgw.stopGateway();
    const failed = await partial.chunkDone!(0, 0, CHUNK).then(() => undefined, (e: unknown) => e as Error & { code?: string });
    expect(failed?.code, failed?.message).to.equal('E_STORE_UNAVAILABLE');
    await rgw.startGateway();
    // the chunk is sent again from its start, as a client does after a retryable error
    await partial.write(0, data.subarray(0, CHUNK));
    const tags = new Map([[0, (await partial.chunkDone!(0, 0, CHUNK))!]]);
    await partial.write(CHUNK, data.subarray(CHUNK));
    tags.set(1, (await partial.chunkDone!(1, CHUNK, CHUNK))!);
    await (await bytes.seal('c'.repeat(32), 1, true, { handle, tags })).release();
    const md5 = createHash('md5').update(data).digest('hex');
    expect(await bytes.commit('c'.repeat(32), md5, { attempt: 1, durable: true })).to.equal('stored');
    expect(await bytes.storedSize(md5)).to.equal(data.length);
    await bytes.close();
    await dir.remove();
  });
});
