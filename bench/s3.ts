/*
 * One large file into S3 (issue 19): upwire's S3 byte store against @tus/server with @tus/s3-store,
 * the same file into the same S3 server (radosgw on a memstore OSD, test/support/radosgw.ts),
 * interleaved runs: wall, server CPU, server peak RSS, the local disk each spools parts on at its peak
 * (upwire: UPLOAD_DIR/.spool; tus: its TMPDIR) and the CPU of the S3 daemons. Each half has a bucket
 * of its own, emptied after it (and the OSD's RAM given back) so the runs start alike.
 *
 * The upwire half is measured only when the server put the file in its bucket: a build that does not
 * know S3 ignores S3_* and stores on its local disk, and the section then says so and goes on.
 */
import {
  AbortMultipartUploadCommand, DeleteBucketCommand, DeleteObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client,
} from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SERVER_MALLOC_ENV, SERVER_NODE_FLAGS } from '../src/cli/tuning.js';
import { radosgwUnavailable, startRadosgw, type Radosgw } from '../test/support/radosgw.js';
import { CLI } from '../test/support/server.js';
import { peakDiskUse } from './disk-use.js';
import { cpuOf, stopService, timed, type Service } from './procs.js';
import { randomFileOfSize } from './util.js';

const here = new URL('.', import.meta.url).pathname;
type Record = (key: string, value: number) => void;
const GiB = 2 ** 30;
/** Where upwire's store keys its objects in the bucket (S3_PREFIX). */
const PREFIX = 'bench/';
/** A server that neither listens nor exits within this is a failed start, not a wait. */
const START_TIMEOUT_MS = 60_000;

/** The settings upwire's S3 store reads, and tus-s3-server.js too (S3_PREFIX is upwire's only). */
function s3Env(rgw: Radosgw, bucket: string): { [name: string]: string } {
  return {
    S3_ENDPOINT: rgw.endpoint, S3_BUCKET: bucket, S3_REGION: rgw.region, S3_PREFIX: PREFIX,
    AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
  };
}

/** CPU seconds (user + system) of live processes, summed. */
async function cpuSeconds(pids: (number | undefined)[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    if (pid === undefined) continue;
    const { user, system } = await cpuOf(pid);
    total += user + system;
  }
  return total;
}

/**
 * startService (bench/procs.ts), bounded: a server that neither prints its URL nor exits within
 * START_TIMEOUT_MS (an S3 store waiting on its bucket, say) is killed and the start fails.
 */
async function startBounded(args: string[], env: { [name: string]: string }): Promise<Service> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    return await new Promise<Service>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const match = /listening on (http:\/\/\S+)/.exec(out);
        if (match) resolve({ url: match[1]!, child });
      });
      child.once('exit', (code, signal) => reject(new Error(`exited with ${code ?? signal}`)));
      setTimeout(() => reject(new Error(`no "listening on" line after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS).unref();
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

export async function s3Uploads(record: Record, log: (text: string) => void, dir: (name: string) => Promise<string>, sizeMiB: number, runs: number): Promise<void> {
  const why = radosgwUnavailable();
  if (why) {
    log(`s3 skipped: ${why}`);
    return;
  }
  // The SDK's notice that its 2027 releases need Node 22, in this process and the servers it starts.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const size = sizeMiB * 2 ** 20;
  // memstore holds the objects in the OSD's RAM and refuses writes past 95 % of its size: room for
  // two files (2 GiB at the default size) and the cluster's own metadata, under the near-full mark.
  const rgw = await startRadosgw({ memstoreBytes: 2 * size + GiB });
  log(`[s3] radosgw ${rgw.endpoint} up: ${JSON.stringify(rgw.marks)} (ms)`);
  const s3 = new S3Client({ ...rgw.clientConfig, maxAttempts: 1 });
  const daemons = () => [rgw.pids.rgw, rgw.pids.osd, rgw.pids.mon];
  let upwireWhy: string | undefined;
  try {
    const file = await randomFileOfSize(await dir('s3-src'), sizeMiB);
    for (let run = 1; run <= runs; run++) {
      log(`[${sizeMiB} MiB into S3] run ${run}/${runs}: tus`);
      await tusHalf();
      if (upwireWhy) continue;
      log(`[${sizeMiB} MiB into S3] run ${run}/${runs}: upwire`);
      upwireWhy = await upwireHalf();
      if (upwireWhy) log(`[s3] the upwire half is not measured: ${upwireWhy}`);
    }

    async function tusHalf(): Promise<void> {
      const bucket = await rgw.createBucket();
      const tmp = await dir('s3-tus-tmp');
      const tus = await startBounded([join(here, 'tus-s3-server.js')], { ...s3Env(rgw, bucket), TMPDIR: tmp });
      try {
        const [serverStart, s3Start] = [await cpuSeconds([tus.child.pid]), await cpuSeconds(daemons())];
        const spool = peakDiskUse(tmp);
        const upload = await timed(process.execPath, [join(here, 'tus-client.js'), tus.url, '1', file]).finally(() => spool.stop());
        if ((JSON.parse(upload.stdout) as { failures: number }).failures) throw new Error('the tus upload into S3 failed');
        record('s3-tus', upload.seconds);
        record('s3-tus-server-cpu', (await cpuSeconds([tus.child.pid])) - serverStart);
        record('s3-tus-s3-cpu', (await cpuSeconds(daemons())) - s3Start);
        record('s3-tus-spool', await spool.stop());
        const stored = await objectsOf(bucket);
        if (!stored.some((o) => o.size === size)) throw new Error(`tus: no object of ${size} bytes in its bucket (${JSON.stringify(stored)})`);
      } finally {
        record('s3-tus-rss', await stopService(tus));
        await emptyBucket(bucket);
      }
    }

    /** Undefined when measured; otherwise why not. */
    async function upwireHalf(): Promise<string | undefined> {
      const bucket = await rgw.createBucket();
      const data = await dir('s3-upwire');
      const uploadDir = join(data, 'uploads');
      const args = ['--port', '0', '--upload-dir', uploadDir, '--db-dir', join(data, 'db'), '--fsync', 'off', '--log-level', 'warn'];
      let server: Service;
      try {
        // as bench/procs.ts startUpwire starts it, with the S3 settings in the environment
        server = await startBounded([...SERVER_NODE_FLAGS, CLI, 'serve', ...args], { ...SERVER_MALLOC_ENV, ...s3Env(rgw, bucket) });
      } catch (err) {
        await emptyBucket(bucket);
        return `upwire serve with S3_* did not start: ${(err as Error).message} (its stderr is above)`;
      }
      let rss: number | undefined;
      try {
        const [serverStart, s3Start] = [await cpuSeconds([server.child.pid]), await cpuSeconds(daemons())];
        const spool = peakDiskUse(join(uploadDir, '.spool'));
        const upload = await timed(process.execPath, [CLI, 'upload', file, '--url', server.url], { UPWIRE_HASH_CACHE: 'off' })
          .catch((err: unknown) => err as Error)
          .finally(() => spool.stop());
        if (upload instanceof Error) return `the upload failed: ${upload.message}`;
        const serverCpu = (await cpuSeconds([server.child.pid])) - serverStart;
        const s3Cpu = (await cpuSeconds(daemons())) - s3Start;
        rss = await stopService(server);
        const stored = await objectsOf(bucket, PREFIX);
        if (!stored.some((o) => o.size === size)) {
          return `no object of ${size} bytes under ${PREFIX} in its bucket (${JSON.stringify(stored)}): this build ignores S3_* and keeps files in UPLOAD_DIR`;
        }
        record('s3-upwire', upload.seconds);
        record('s3-upwire-server-cpu', serverCpu);
        record('s3-upwire-s3-cpu', s3Cpu);
        record('s3-upwire-spool', await spool.stop());
        record('s3-upwire-rss', rss);
        return undefined;
      } finally {
        // a server that died during the upload has no RSS to read: the upload's failure says what happened
        if (rss === undefined) await stopService(server).catch(() => undefined);
        await emptyBucket(bucket);
      }
    }
  } finally {
    s3.destroy();
    await rgw.stop();
  }

  async function objectsOf(bucket: string, Prefix?: string): Promise<{ key: string; size: number }[]> {
    const objects: { key: string; size: number }[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix, ContinuationToken }));
      objects.push(...(page.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size ?? 0 })));
      ContinuationToken = page.NextContinuationToken;
    } while (ContinuationToken);
    return objects;
  }

  /** Deletes the bucket with its objects and unfinished uploads, and frees their RAM in the OSD at once. */
  async function emptyBucket(bucket: string): Promise<void> {
    for (const { key } of await objectsOf(bucket)) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    const { Uploads = [] } = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const { Key, UploadId } of Uploads) await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    await rgw.collectGarbage();
  }
}

/** The section's rows of the results table (none when it did not run). */
export function s3Rows(med: (key: string) => number, has: (key: string) => boolean, sizeMiB: number): [string, string, string, string][] {
  if (!has('s3-tus')) return [];
  const up = has('s3-upwire');
  const s = (key: string) => `${med(key).toFixed(2)} s`;
  const perGiB = (key: string) => `${((med(key) * 1024) / sizeMiB).toFixed(2)} s/GiB`;
  const mib = (key: string) => `${med(key).toFixed(0)} MiB`;
  const x = (a: string, b: string) => (up ? `${(med(a) / med(b)).toFixed(2)}x` : '');
  const upwire = (text: string) => (up ? text : 'not measured (see the log)');
  return [
    [`end to end ${sizeMiB} MiB into S3 (radosgw, memstore)`, upwire(`${s('s3-upwire')} (${(sizeMiB / med('s3-upwire')).toFixed(0)} MiB/s)`), `@tus/s3-store ${s('s3-tus')} (${(sizeMiB / med('s3-tus')).toFixed(0)} MiB/s)`, x('s3-upwire', 's3-tus')],
    ['server CPU (user + system), into S3', upwire(perGiB('s3-upwire-server-cpu')), `@tus/s3-store ${perGiB('s3-tus-server-cpu')}`, x('s3-upwire-server-cpu', 's3-tus-server-cpu')],
    [`server peak RSS, ${sizeMiB} MiB into S3`, upwire(mib('s3-upwire-rss')), `@tus/s3-store ${mib('s3-tus-rss')}`, x('s3-upwire-rss', 's3-tus-rss')],
    ['local disk spooled at peak, into S3', upwire(`${mib('s3-upwire-spool')} (UPLOAD_DIR/.spool)`), `@tus/s3-store ${mib('s3-tus-spool')} (TMPDIR)`, ''],
    ['S3 server CPU (radosgw, OSD, monitor)', upwire(perGiB('s3-upwire-s3-cpu')), `@tus/s3-store ${perGiB('s3-tus-s3-cpu')}`, x('s3-upwire-s3-cpu', 's3-tus-s3-cpu')],
  ];
}
