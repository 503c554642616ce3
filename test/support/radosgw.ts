/*
 * A real S3 server for the tests and the bench: Ceph's radosgw (Debian bookworm, Pacific 16.2) with the
 * smallest cluster it runs on, one monitor and one OSD on memstore (objects in the OSD's RAM), on
 * loopback ports, everything in a temp dir. The pattern of ceph's micro-osd.sh (go-ceph's CI), without
 * mgr or mds. The daemons run in the foreground as our children, so stop() owns exactly what start
 * made; each gets SIGKILL when this process dies, even by kill -9 (setpriv --pdeathsig). Runs as root
 * (CI) or any user: nothing is written outside the temp dir.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { CreateBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { cephConf, commandLine, untilAnswering, watchDaemon, type Daemon } from './ceph.js';
import { tempDir } from './fixtures.js';
import { freePort, stopChild } from './procs.js';

/** What the cluster needs: ceph-mon, ceph-osd, radosgw, and ceph-common (ceph, radosgw-admin, monmaptool via ceph-base). */
const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool', 'setpriv'] as const;
type Binary = (typeof BINARIES)[number];
/** How many free ports the monitor and radosgw try when another process takes the one they were given. */
const PORT_ATTEMPTS = 3;
const EADDRINUSE_EXIT = 98;

/** Where each binary is: the PATH, then /usr/bin and /usr/sbin whatever the PATH. */
function binaryPaths(): Partial<Record<Binary, string>> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/sbin', '/bin'];
  return Object.fromEntries(BINARIES.map((name) => [name, dirs.map((dir) => join(dir, name)).find((path) => existsSync(path))]));
}

/** Why radosgw cannot run here, or undefined when it can. */
export function radosgwUnavailable(): string | undefined {
  const paths = binaryPaths();
  const missing = BINARIES.filter((name) => !paths[name]);
  if (missing.length === 0) return undefined;
  return `no ${missing.join(', ')} (apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common; .ci/run installs them)`;
}

export interface RadosgwOptions {
  /**
   * memstore's device size: the OSD refuses writes past 95 % of it (mon osd full ratio), and objects
   * take RAM only as they are written. Default 1 GiB; the bench asks for room for 2 GiB.
   */
  memstoreBytes?: number;
}

export interface Radosgw {
  /** http://127.0.0.1:<port>, the same after stopGateway() and startGateway(). */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * What an S3Client needs for this server: path-style bucket URLs (no DNS names on loopback), and
   * checksums only when an operation requires one: Pacific refuses the SDK's default since 3.729
   * (a STREAMING-UNSIGNED-PAYLOAD-TRAILER body without Content-Length) with 411 MissingContentLength.
   */
  clientConfig: S3ClientConfig;
  /** The daemons' process ids while they run (the bench reads their CPU and RSS). */
  readonly pids: { mon?: number; osd?: number; rgw?: number };
  /** Milliseconds from the start to the end of each step. */
  marks: Record<string, number>;
  /** Creates a bucket (a fresh name unless given) and returns its name. */
  createBucket(name?: string): Promise<string>;
  /**
   * Frees the RADOS objects of deleted objects and aborted uploads now (radosgw's garbage collector
   * would wait two hours): memstore keeps them in RAM until then.
   */
  collectGarbage(): Promise<void>;
  /** Kills radosgw (SIGKILL, as a crash): the cluster and its objects, multipart uploads included, stay. */
  stopGateway(): Promise<void>;
  /** Starts radosgw again on the same port. */
  startGateway(): Promise<void>;
  /** Kills every daemon and removes the directory. */
  stop(): Promise<void>;
}

/** A monitor, an OSD and radosgw on free loopback ports, with one S3 user; see the file's head. */
export async function startRadosgw(options: RadosgwOptions = {}): Promise<Radosgw> {
  const paths = binaryPaths();
  const why = radosgwUnavailable();
  if (why) throw new Error(why);
  const bin = (name: Binary) => paths[name]!;
  const started = performance.now();
  const marks: Record<string, number> = {};
  const mark = (name: string) => (marks[name] = Math.round(performance.now() - started));
  const dir = await tempDir('upwire-rgw-');
  const conf = join(dir.path, 'ceph.conf');
  const env = { ...process.env, CEPH_CONF: conf };
  /** The monitor and the OSD, which every step waits on; the gateways, every one started. */
  const cluster: Daemon[] = [];
  const gateways: Daemon[] = [];
  const all = () => [...cluster, ...gateways];
  // A test process that ends without after() (an exception, process.exit) must leave no daemon behind,
  // nor its directory (a daemon dying at that moment may still add a file: then the directory stays).
  const killAll = () => {
    all().forEach((d) => d.child.kill('SIGKILL'));
    try {
      rmSync(dir.path, { recursive: true, force: true });
    } catch {
      // left in the temp dir
    }
  };
  process.once('exit', killAll);
  let client: S3Client | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killAll);
    client?.destroy();
    // SIGKILL: memstore and the temp dir are disposable, and SIGTERM costs ~2 s per daemon.
    await Promise.all(all().map((d) => stopChild(d.child, 'SIGKILL')));
    await dir.remove();
  };
  /** A daemon's exit fails whatever waits on the cluster, with the end of its log. */
  const daemon = (name: Binary, args: string[], logName: string) => {
    const child = spawn(bin('setpriv'), ['--pdeathsig', 'SIGKILL', '--', bin(name), ...args, '-f', '-c', conf], { env, cwd: dir.path, stdio: ['ignore', 'ignore', 'pipe'] });
    const d = watchDaemon(name, child, join(dir.path, 'log', `${logName}.log`));
    (name === 'radosgw' ? gateways : cluster).push(d);
    return d;
  };
  /** A ceph command line, bounded, failing at once when a daemon it would wait for has died. */
  const run = (name: Binary, args: string[], stdin?: string) => commandLine(bin(name), args, { env, cwd: dir.path, stdin }, cluster);
  try {
    const fsid = randomUUID();
    await Promise.all(['osd', 'run', 'log'].map((d) => mkdir(join(dir.path, d))));
    // The monitor's port, like radosgw's, can be taken between our probe and its bind: the monitor
    // then logs "unable to bind monitor" and exits (in ~2 s, see ms bind retry delay), and is made
    // again on another port.
    let osdId = '';
    for (let attempt = 1; ; attempt++) {
      const monPort = await freePort();
      await rm(join(dir.path, 'mon'), { recursive: true, force: true });
      await mkdir(join(dir.path, 'mon'));
      await writeFile(conf, cephConf(dir.path, fsid, monPort, options.memstoreBytes ?? 1024 ** 3));
      // The monmap names the monitor "a" at our port: a monmap built from `mon host` alone names it
      // "noname-a", and ceph-mon then binds the default ports 3300/6789 (another cluster's, maybe).
      await run('monmaptool', ['--create', '--clobber', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, join(dir.path, 'monmap')]);
      await run('ceph-mon', ['--id', 'a', '--mkfs', '--monmap', join(dir.path, 'monmap'), '-c', conf]);
      mark('mon mkfs');
      const mon = daemon('ceph-mon', ['--id', 'a'], 'mon.a');
      try {
        // `ceph` waits for the monitor to answer (client mount timeout) instead of us polling it.
        osdId = (await run('ceph', ['osd', 'create'])).trim();
        break;
      } catch (err) {
        if (attempt === PORT_ATTEMPTS || !mon.exited?.includes('unable to bind monitor')) throw err;
        cluster.length = 0;
      }
    }
    mark('mon up');
    await run('ceph-osd', ['--id', osdId, '--mkfs']);
    daemon('ceph-osd', ['--id', osdId], `osd.${osdId}`);
    // radosgw-admin creates the realm, zone and user before radosgw runs (the two racing to create the
    // default zone is not safe); its writes wait for the OSD to be up and its placement groups active.
    const accessKeyId = `UPWIRE${randomBytes(7).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(20).toString('base64url');
    await run('radosgw-admin', ['user', 'create', '--uid', 'upwire', '--display-name', 'upwire tests', '--access-key', accessKeyId, '--secret-key', secretAccessKey]);
    mark('osd up, user');
    // The pools the first CreateBucket, CreateMultipartUpload and UploadPart would otherwise create on
    // demand, 1-2 s each inside a test. One `ceph` reading stdin: each start of it costs ~0.4 s of Python.
    const pools = ['default.rgw.buckets.index', 'default.rgw.buckets.non-ec', 'default.rgw.buckets.data'];
    await run('ceph', [], pools.map((p) => `osd pool create ${p}\nosd pool application enable ${p} rgw\n`).join(''));
    mark('pools');

    let port = 0;
    let gateway: Daemon | undefined;
    const startGateway = async () => {
      if (gateway) throw new Error('radosgw is already running');
      gateway = daemon('radosgw', ['-n', 'client.rgw.r', '--rgw-frontends', `beast endpoint=127.0.0.1:${port}`], 'client.rgw.r');
      await untilAnswering(`http://127.0.0.1:${port}`, gateway, cluster);
    };
    const stopGateway = async () => {
      const g = gateway;
      gateway = undefined;
      if (g) await stopChild(g.child, 'SIGKILL'); // it holds no state of its own: multipart uploads live in RADOS
    };
    // A port free when asked can be taken before radosgw binds it: radosgw then exits 98 (EADDRINUSE)
    // within a second, and another port is tried.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await startGateway();
        break;
      } catch (err) {
        const lost = gateway?.child.exitCode === EADDRINUSE_EXIT;
        gateway = undefined;
        if (!lost || attempt === PORT_ATTEMPTS) throw err;
      }
    }
    mark('radosgw answers');

    const endpoint = `http://127.0.0.1:${port}`;
    const region = 'us-east-1';
    const clientConfig: S3ClientConfig = {
      endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
    };
    let buckets = 0;
    return {
      endpoint, region, accessKeyId, secretAccessKey, clientConfig, marks,
      get pids() {
        const live = (d: Daemon | undefined) => (d && d.child.exitCode === null && d.child.signalCode === null ? d.child.pid : undefined);
        return { mon: live(cluster[0]), osd: live(cluster[1]), rgw: live(gateway) };
      },
      async createBucket(name = `upwire-${++buckets}-${randomBytes(4).toString('hex')}`) {
        client ??= new S3Client({ ...clientConfig, maxAttempts: 1 });
        await client.send(new CreateBucketCommand({ Bucket: name }));
        return name;
      },
      async collectGarbage() {
        await run('radosgw-admin', ['gc', 'process', '--include-all']);
      },
      stopGateway,
      startGateway,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
