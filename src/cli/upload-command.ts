import { createUploader, openConnection, UpwireError, type NodeUploadOptions, type Uploader } from '../client/node.js';
import { parseMetadata, type Metadata } from '../protocol/index.js';
import { formatBytes } from '../client/format.js';
import { parseBytes } from '../server/config/config.js';
import { helpText, list, parseCommand, text, UsageError, type CommandSpec } from './options.js';
import { ProgressView } from './progress-view.js';
import { humanBytes } from './units.js';

export { UsageError } from './options.js';

/** The exit code of a run stopped by Ctrl-C (128 + SIGINT), the first or the second. */
export const INTERRUPTED = 130;

export const UPLOAD: CommandSpec = {
  name: 'upload',
  usage: 'upwire upload <files...> --url <server> [options]',
  summary: 'Uploads files over one connection. A file the server has is not sent again; a file partly sent resumes where it stopped.',
  positionals: true,
  options: {
    url: { type: 'string', value: 'URL', help: 'the server, with the path it is mounted under', default: '$UPWIRE_URL' },
    token: { type: 'string', value: 'T', help: 'the upload token', default: '$UPWIRE_TOKEN, else $UPLOAD_TOKEN' },
    'max-in-flight': { type: 'string', value: 'BYTES', help: 'the most bytes sent and not yet answered; fewer on a slow link', default: '16M' },
    'chunk-size': { type: 'string', value: 'BYTES', help: 'wished chunk size (4M, 1MiB); the server clamps it', default: 'the server\'s' },
    retries: { type: 'string', value: 'N', help: 'attempts after a transient failure without progress in between', default: '5' },
    parallel: { type: 'string', value: 'N', help: 'files sent at once over the one connection', default: '1' },
    'no-hash-cache': { type: 'boolean', help: 'hash every file, even one unchanged since its last upload', default: 'off' },
    meta: { type: 'string', multiple: true, value: 'KEY=VALUE', help: 'kept with the upload and the file; repeat it', default: 'none' },
  },
  notes: [
    'Progress goes to stderr, one JSON line per uploaded file to stdout.',
    `exit: 0 every file is on the server, 1 one is not, 2 a usage error, ${INTERRUPTED} Ctrl-C (run the same command again to resume).`,
  ],
};

/**
 * Uploads the files over one connection, `--parallel` at a time (default 1: one progress bar
 * at a time). Exit code 0 only when every file is on the server, 1 when one is not (a server
 * answer the protocol does not allow included: E_BAD_ANSWER), 2 for a usage error, 130 after Ctrl-C.
 */
export async function uploadCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(UPLOAD, argv);
  if (!parsed) {
    console.log(helpText(UPLOAD));
    return 0;
  }
  const { values, positionals } = parsed;
  const url = text(values, 'url') ?? process.env.UPWIRE_URL;
  const token = text(values, 'token') ?? process.env.UPWIRE_TOKEN ?? process.env.UPLOAD_TOKEN;
  if (!url) throw new UsageError('no server: give --url or UPWIRE_URL (see upwire upload --help)');
  if (positionals.length === 0) throw new UsageError('no file to upload (see upwire upload --help)');
  const controller = new AbortController();
  const maxInFlight = text(values, 'max-in-flight');
  const retries = text(values, 'retries');
  const chunkSize = text(values, 'chunk-size');
  const meta = list(values, 'meta');
  const options: NodeUploadOptions = {
    url,
    ...(values['no-hash-cache'] === true ? { hashCache: false as const } : {}),
    signal: controller.signal,
    ...(token ? { token } : {}),
    ...(maxInFlight ? { maxInFlight: byteCount(maxInFlight, 'max-in-flight') } : {}),
    ...(retries ? { retries: wholeNumber(retries, 'retries', 0) } : {}),
    ...(chunkSize ? { chunkSize: byteCount(chunkSize, 'chunk-size') } : {}),
    ...(meta ? { metadata: metadataOf(meta) } : {}),
  };
  const parallelText = text(values, 'parallel');
  const parallel = parallelText ? wholeNumber(parallelText, 'parallel', 1) : 1;
  // Ctrl-C stops every upload in whatever phase (opening, hashing, waiting for the server); what the
  // server acknowledged stays for a later resume. A second Ctrl-C does not wait for that clean stop.
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(INTERRUPTED);
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
      if (!(await uploadOne(path, { ...options, connection }, { showProgress: parallel === 1, interrupted: controller.signal }))) failures++;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, positionals.length) }, worker));
  } finally {
    connection.close();
    process.off('SIGINT', onSigint);
  }
  if (controller.signal.aborted) return INTERRUPTED;
  return failures === 0 ? 0 : 1;
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

async function uploadOne(path: string, options: NodeUploadOptions, run: { showProgress: boolean; interrupted: AbortSignal }): Promise<boolean> {
  const view = new ProgressView(process.stderr, path);
  let uploader: Uploader | undefined;
  try {
    uploader = await createUploader(path, options);
    if (run.showProgress) {
      uploader.on('hash-progress', (p) => view.update('hashing', p));
      uploader.on('progress', (p) => view.update('uploading', p));
    }
    uploader.on('retry', ({ attempt, error, delayMs }) => view.line(`retry  ${path}: ${error.message}; attempt ${attempt} in ${(delayMs / 1000).toFixed(1)} s`));
    const result = await uploader.start();
    const seconds = result.hashSeconds + result.transferSeconds;
    view.end(result.instant
      ? `instant ${path}: already on the server (md5 ${result.md5})`
      : `done   ${path}: ${formatBytes(result.file.size)} in ${seconds.toFixed(1)} s, sent ${formatBytes(result.bytesSent)} in ${result.chunksSent} chunks (md5 ${result.md5})`);
    process.stdout.write(`${JSON.stringify({ path, ...result })}\n`);
    return true;
  } catch (err) {
    const error = err instanceof UpwireError ? err : new UpwireError('E_INTERNAL', (err as Error).message);
    if (error.code === 'E_ABORTED' && run.interrupted.aborted) {
      view.end(`stopped ${path}: interrupted; what the server acknowledged stays, run the same command again to resume`);
    } else {
      view.end(`failed ${path}: ${reason(error, uploader?.source.size, options.token !== undefined)} [${error.code}]`);
    }
    return false;
  }
}

/**
 * The failure in the user's terms: sizes in binary units rather than the server's raw bytes, and
 * what to do about a missing token.
 */
export function reason(error: UpwireError, size: number | undefined, tokenGiven: boolean): string {
  const { details } = error;
  if (error.code === 'E_UNAUTHORIZED' && !tokenGiven) return 'the server needs a token (--token or UPWIRE_TOKEN)';
  if (error.code === 'E_TOO_LARGE' && typeof details.maxFileSize === 'number' && size !== undefined) {
    return `${humanBytes(size)} is above the limit of ${humanBytes(details.maxFileSize)}`;
  }
  if (error.code === 'E_NO_SPACE' && typeof details.free === 'number' && size !== undefined) {
    const reserved = typeof details.reserved === 'number' && details.reserved > 0 ? ` (${humanBytes(details.reserved)} of it promised to uploads in progress)` : '';
    return `${humanBytes(size)} do not fit in the ${humanBytes(details.free)} free on the server${reserved}`;
  }
  return error.message;
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
