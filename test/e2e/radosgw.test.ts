/*
 * The S3 server the tests run (test/support/radosgw.ts: Ceph radosgw on a one-OSD memstore cluster),
 * held to the S3 behaviours upwire's S3 byte store relies on, through the official SDK with the
 * client settings the harness gives: Content-MD5 checked per part, the 5 MiB minimum for every part
 * but the last, part ETags checked at Complete, ranged reads, the answers for a missing bucket and
 * for wrong credentials, and a multipart upload that outlives a crash of the gateway.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand,
  HeadBucketCommand, HeadObjectCommand, ListPartsCommand, S3Client, S3ServiceException, UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { skipWithout } from '../support/fixtures.js';
import { radosgwUnavailable, startRadosgw, type Radosgw } from '../support/radosgw.js';

const MiB = 1024 * 1024;
const md5 = (data: Uint8Array) => createHash('md5').update(data);

/** The error `call` fails with (the test fails if it succeeds). */
async function refusal(call: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number }; code?: string }> {
  const err = await call.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof Error)) throw new Error(`accepted, or failed with a non-Error: ${String(err)}`);
  return err;
}

describe('radosgw: the real S3 server of the tests (test/support/radosgw.ts)', function () {
  this.timeout(30_000);
  let rgw: Radosgw;
  let s3: S3Client;
  let Bucket: string;

  before(async function () {
    skipWithout(this, radosgwUnavailable());
    this.timeout(150_000); // a start takes 3.5-17 s here; the harness gives up on a wedged daemon at 120 s
    rgw = await startRadosgw();
    s3 = new S3Client({ ...rgw.clientConfig, maxAttempts: 1 });
    Bucket = await rgw.createBucket();
  });
  after(async () => {
    s3?.destroy();
    await rgw?.stop();
  });

  const startUpload = async (Key: string) => (await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }))).UploadId!;
  const sendPart = (Key: string, UploadId: string, PartNumber: number, Body: Buffer, ContentMD5?: string) =>
    s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body, ContentLength: Body.length, ContentMD5 }));
  /** Uploads `bodies` as parts 1..n, each with its Content-MD5; the parts as Complete wants them. */
  const sendParts = async (Key: string, UploadId: string, bodies: Buffer[]): Promise<CompletedPart[]> => {
    const parts: CompletedPart[] = [];
    for (const [i, body] of bodies.entries()) {
      const { ETag } = await sendPart(Key, UploadId, i + 1, body, md5(body).digest('base64'));
      parts.push({ PartNumber: i + 1, ETag });
    }
    return parts;
  };
  const complete = (Key: string, UploadId: string, Parts: CompletedPart[]) =>
    s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }));
  const read = async (Key: string, Range?: string) => {
    const res = await s3.send(new GetObjectCommand({ Bucket, Key, Range }));
    return { res, data: Buffer.from(await res.Body!.transformToByteArray()) };
  };

  it('creates a fresh bucket at each call, which HeadBucket then finds', async () => {
    const [a, b] = [await rgw.createBucket(), await rgw.createBucket()];
    expect(a).to.not.equal(b);
    for (const name of [a, b]) expect((await s3.send(new HeadBucketCommand({ Bucket: name }))).$metadata.httpStatusCode).to.equal(200);
  });

  it('stores a 3-part multipart upload sent with Content-MD5 per part, and serves byte ranges of it', async () => {
    const bodies = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(MiB + 123)];
    const whole = Buffer.concat(bodies);
    const UploadId = await startUpload('three-parts');
    const parts = await sendParts('three-parts', UploadId, bodies);
    // A part's ETag is the MD5 of its bytes, as on AWS.
    expect(parts.map((p) => p.ETag)).to.deep.equal(bodies.map((b) => `"${md5(b).digest('hex')}"`));
    await complete('three-parts', UploadId, parts);

    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'three-parts' }));
    expect(head.ContentLength).to.equal(whole.length);
    expect(head.ETag).to.match(/^"[0-9a-f]{32}-3"$/);
    expect(md5((await read('three-parts')).data).digest('hex')).to.equal(md5(whole).digest('hex'));
    // across the boundary of parts 1 and 2, and the last 100 bytes
    const across = await read('three-parts', `bytes=${5 * MiB - 1000}-${5 * MiB + 999}`);
    expect(across.res.$metadata.httpStatusCode).to.equal(206);
    expect(across.res.ContentRange).to.equal(`bytes ${5 * MiB - 1000}-${5 * MiB + 999}/${whole.length}`);
    expect(across.data.equals(whole.subarray(5 * MiB - 1000, 5 * MiB + 1000))).to.equal(true);
    expect((await read('three-parts', 'bytes=-100')).data.equals(whole.subarray(-100))).to.equal(true);
  });

  it('refuses a part whose bytes do not match its Content-MD5 (BadDigest), and keeps no such part', async () => {
    const UploadId = await startUpload('bad-md5');
    const [sent, claimed] = [randomBytes(MiB), randomBytes(MiB)];
    const err = await refusal(sendPart('bad-md5', UploadId, 1, sent, md5(claimed).digest('base64')));
    expect(err).to.be.instanceOf(S3ServiceException);
    expect(err.name).to.equal('BadDigest');
    expect((await s3.send(new ListPartsCommand({ Bucket, Key: 'bad-md5', UploadId }))).Parts ?? []).to.deep.equal([]);
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: 'bad-md5', UploadId }));
  });

  it('refuses to complete when a part before the last is under 5 MiB (EntityTooSmall)', async () => {
    const UploadId = await startUpload('small-part');
    const parts = await sendParts('small-part', UploadId, [randomBytes(5 * MiB), randomBytes(5 * MiB - 1), randomBytes(MiB)]);
    const err = await refusal(complete('small-part', UploadId, parts));
    expect(err.name).to.equal('EntityTooSmall');
    expect(err.$metadata?.httpStatusCode).to.equal(400);
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: 'small-part', UploadId }));
  });

  it('refuses to complete with a part ETag that is not the stored part\'s (InvalidPart), then completes with the right ones', async () => {
    const bodies = [randomBytes(5 * MiB), randomBytes(2 * MiB)];
    const UploadId = await startUpload('wrong-etag');
    const parts = await sendParts('wrong-etag', UploadId, bodies);
    const wrong = parts.map((p, i) => (i === 1 ? { ...p, ETag: `"${md5(Buffer.from('other bytes')).digest('hex')}"` } : p));
    const err = await refusal(complete('wrong-etag', UploadId, wrong));
    expect(err.name).to.equal('InvalidPart');
    expect(err.$metadata?.httpStatusCode).to.equal(400);
    await complete('wrong-etag', UploadId, parts);
    expect((await read('wrong-etag')).data.equals(Buffer.concat(bodies))).to.equal(true);
  });

  it('answers HeadBucket 404 for a missing bucket and 403 for wrong credentials', async () => {
    const missing = await refusal(s3.send(new HeadBucketCommand({ Bucket: `${Bucket}-missing` })));
    expect(missing.$metadata?.httpStatusCode).to.equal(404);
    expect(missing.name).to.equal('NotFound');
    // the right key id with a secret one character longer: a signature that cannot match
    const stranger = new S3Client({ ...rgw.clientConfig, maxAttempts: 1, credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: `${rgw.secretAccessKey}x` } });
    try {
      const forbidden = await refusal(stranger.send(new HeadBucketCommand({ Bucket })));
      // A HEAD answer has no body, so no error code: the SDK names this one 'Unknown'; the status says it.
      expect(forbidden.$metadata?.httpStatusCode).to.equal(403);
    } finally {
      stranger.destroy();
    }
  });

  it('keeps a multipart upload in progress while the gateway is killed and started again on the same port', async () => {
    const bodies = [randomBytes(5 * MiB), randomBytes(3 * MiB)];
    const UploadId = await startUpload('outlives-gateway');
    const [first] = await sendParts('outlives-gateway', UploadId, bodies.slice(0, 1));
    const { endpoint } = rgw;
    const before = rgw.pids.rgw;
    await rgw.stopGateway();
    expect(rgw.pids.rgw).to.equal(undefined);
    // While it is down a part fails as a connection does, not as an S3 answer.
    const down = await refusal(sendPart('outlives-gateway', UploadId, 2, bodies[1]!));
    expect(down).to.not.be.instanceOf(S3ServiceException);
    expect(down.code).to.equal('ECONNREFUSED');

    await rgw.startGateway();
    expect(rgw.endpoint).to.equal(endpoint);
    expect(rgw.pids.rgw).to.be.a('number').and.not.equal(before);
    const listed = await s3.send(new ListPartsCommand({ Bucket, Key: 'outlives-gateway', UploadId }));
    expect(listed.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size])).to.deep.equal([[1, first!.ETag, 5 * MiB]]);
    const second = await sendPart('outlives-gateway', UploadId, 2, bodies[1]!, md5(bodies[1]!).digest('base64'));
    await complete('outlives-gateway', UploadId, [first!, { PartNumber: 2, ETag: second.ETag }]);
    expect((await read('outlives-gateway')).data.equals(Buffer.concat(bodies))).to.equal(true);
  });
});
