/**
 * @tus/server with @tus/s3-store (its defaults: 8 MiB parts, up to 60 in flight, each part spooled to
 * a file under os.tmpdir(), i.e. TMPDIR) on the S3 server the environment names: S3_ENDPOINT,
 * S3_BUCKET, S3_REGION; credentials from the SDK's chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
 * `node tus-s3-server.js [host]` prints its URL.
 */
import { S3Store } from '@tus/s3-store';
import { Server } from '@tus/server';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const host = process.argv[2] ?? '127.0.0.1';
const store = new S3Store({
  s3ClientConfig: {
    bucket: process.env.S3_BUCKET!,
    endpoint: process.env.S3_ENDPOINT,
    region: process.env.S3_REGION,
    // radosgw: path-style buckets on loopback, and no streaming checksum trailer (Pacific answers it
    // 411 MissingContentLength); see test/support/radosgw.ts clientConfig.
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  },
});
const tus = new Server({ path: '/files', datastore: store });
const http = createServer((req, res) => void tus.handle(req, res));
http.listen(0, host, () => {
  console.log(`listening on http://${host}:${(http.address() as AddressInfo).port}/files/`);
});
process.on('SIGTERM', () => http.close(() => process.exit(0)));
