import { parseArgs } from 'node:util';
import { createUploader, openConnection, UpwireError, type NodeUploadOptions } from '../client/node.js';
import { parseMetadata, type Metadata } from '../protocol/index.js';
import { formatBytes } from '../client/format.js';
import { parseBytes } from '../server/config/config.js';
import { ProgressView } from './progress-view.js';

export const UPLOAD_USAGE =
  'usage: upwire upload <files...> --url <server> [--token T] [--max-in-flight BYTES] [--chunk-size BYTES] [--retries N] [--parallel N] [--no-hash-cache] [--meta KEY=VALUE]...';

/**
 * Uploads the files over one connection, `--parallel` at a time (default 1: one progress bar
 * at a time). Exit code 0 only when every file is on the server, 1 when one is not (a server
 * answer the protocol does not allow included: E_BAD_ANSWER), 2 for a usage error, 130 for a
 * second Ctrl-C.
 */
export async function uploadCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string', default: process.env.UPWIRE_URL },
      token: { type: 'string', default: process.env.UPLOAD_TOKEN },
      'max-in-flight': { type: 'string' },
      'chunk-size': { type: 'string' },
      retries: { type: 'string' },
      parallel: { type: 'string' },
      'no-hash-cache': { type: 'boolean', default: false },
      meta: { type: 'string', multiple: true },
    },
  });
  if (!values.url || positionals.length === 0) throw new UsageError(UPLOAD_USAGE);
  const controller = new AbortController();
  const options: NodeUploadOptions = {
    url: values.url,
    ...(values['no-hash-cache'] ? { hashCache: false as const } : {}),
    signal: controller.signal,
    ...(values.token ? { token: values.token } : {}),
    ...(values['max-in-flight'] ? { maxInFlight: byteCount(values['max-in-flight'], 'max-in-flight') } : {}),
    ...(values.retries ? { retries: wholeNumber(values.retries, 'retries', 0) } : {}),
    ...(values['chunk-size'] ? { chunkSize: byteCount(values['chunk-size'], 'chunk-size') } : {}),
    ...(values.meta ? { metadata: metadataOf(values.meta) } : {}),
  };
  const parallel = values.parallel ? wholeNumber(values.parallel, 'parallel', 1) : 1;
  // Ctrl-C stops every upload in whatever phase (opening, hashing, waiting for the server); what the
  // server acknowledged stays for a later resume. A second Ctrl-C does not wait for that clean stop.
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const connection = openConnection(options);
  // The connection is shared, so an aborted upload would leave it open for the others: close it,
  // failing at once the requests that wait on it (a server may sit on an answer until the timeout).
  controller.signal.addEventListener('abort', () => connection.close(), { once: true });
  let failures = 0;
  const queue = positionals.entries();
  const worker = async () => {
    for (const [, path] of queue) {
      if (controller.signal.aborted) return;
      if (!(await uploadOne(path, { ...options, connection }, parallel === 1))) failures++;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, positionals.length) }, worker));
  } finally {
    connection.close();
    process.off('SIGINT', onSigint);
  }
  return failures === 0 && !controller.signal.aborted ? 0 : 1;
}

/** `--meta key=value`, repeated; the protocol's limits are checked here, before any hashing. */
function metadataOf(pairs: string[]): Metadata {
  const entries = pairs.map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--meta takes KEY=VALUE (got ${JSON.stringify(pair)})`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  });
  try {
    return parseMetadata(Object.fromEntries(entries));
  } catch (err) {
    throw new UsageError(`--meta: ${(err as Error).message}`);
  }
}

async function uploadOne(path: string, options: NodeUploadOptions, showProgress: boolean): Promise<boolean> {
  const view = new ProgressView(process.stderr, path);
  try {
    const uploader = await createUploader(path, options);
    if (showProgress) {
      uploader.on('hash-progress', (p) => view.update('hashing', p));
      uploader.on('progress', (p) => view.update('uploading', p));
    }
    uploader.on('retry', ({ attempt, error, delayMs }) => view.line(`retry  ${path}: ${error.message}; attempt ${attempt} in ${(delayMs / 1000).toFixed(1)} s`));
    const result = await uploader.start();
    const seconds = result.hashSeconds + result.transferSeconds;
    view.line(result.instant
      ? `instant ${path}: already on the server (md5 ${result.md5})`
      : `done   ${path}: ${formatBytes(result.file.size)} in ${seconds.toFixed(1)} s, sent ${formatBytes(result.bytesSent)} in ${result.chunksSent} chunks (md5 ${result.md5})`);
    process.stdout.write(`${JSON.stringify({ path, ...result })}\n`);
    return true;
  } catch (err) {
    const error = err instanceof UpwireError ? err : new UpwireError('E_INTERNAL', (err as Error).message);
    view.line(`failed ${path}: ${error.message} [${error.code}]`);
    return false;
  }
}

export class UsageError extends Error {
  override name = 'UsageError';
}

function byteCount(value: string, name: string): number {
  try {
    return parseBytes(value);
  } catch (err) {
    throw new UsageError(`--${name} ${(err as Error).message}`);
  }
}

function wholeNumber(value: string, name: string, min: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min) throw new UsageError(`--${name} must be a whole number >= ${min}`);
  return n;
}
