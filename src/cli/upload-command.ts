import { parseArgs } from 'node:util';
import { createUploader, UpwireError } from '../client/node.js';
import { parseBytes } from '../server/config.js';
import { formatBytes } from '../client/format.js';
import { ProgressView } from './progress-view.js';

export const UPLOAD_USAGE = `usage: upwire upload <files...> --url <server> [--token T] [--concurrency N] [--chunk-size BYTES] [--retries N]`;

/** Uploads each file in turn; exit code 0 only when every file is on the server. */
export async function uploadCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string', default: process.env.UPWIRE_URL },
      token: { type: 'string', default: process.env.UPLOAD_TOKEN },
      concurrency: { type: 'string' },
      'chunk-size': { type: 'string' },
      retries: { type: 'string' },
    },
  });
  if (!values.url || positionals.length === 0) throw new UsageError(UPLOAD_USAGE);
  const options = {
    url: values.url,
    ...(values.token ? { token: values.token } : {}),
    ...(values.concurrency ? { concurrency: wholeNumber(values.concurrency, 'concurrency', 1) } : {}),
    ...(values.retries ? { retries: wholeNumber(values.retries, 'retries', 0) } : {}),
    ...(values['chunk-size'] ? { chunkSize: parseBytes(values['chunk-size']) } : {}),
  };
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  let failures = 0;
  for (const path of positionals) {
    if (controller.signal.aborted) break;
    if (!(await uploadOne(path, { ...options, signal: controller.signal }))) failures++;
  }
  return failures === 0 && !controller.signal.aborted ? 0 : 1;
}

async function uploadOne(path: string, options: Parameters<typeof createUploader>[1]): Promise<boolean> {
  const view = new ProgressView(process.stderr, path);
  const started = Date.now();
  try {
    const uploader = await createUploader(path, options);
    uploader.on('hash-progress', (p) => view.update('hashing', p));
    uploader.on('progress', (p) => view.update('uploading', p));
    uploader.on('retry', ({ attempt, error, delayMs }) => view.line(`retry  ${path}: ${error.message}; attempt ${attempt} in ${(delayMs / 1000).toFixed(1)} s`));
    const result = await uploader.start();
    const seconds = (Date.now() - started) / 1000;
    const summary = result.instant
      ? `instant ${path}: already on the server (md5 ${result.md5})`
      : `done   ${path}: ${formatBytes(result.file.size)} in ${seconds.toFixed(1)} s, sent ${result.chunksSent} chunks (md5 ${result.md5})`;
    view.line(summary);
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

function wholeNumber(value: string, name: string, min: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min) throw new UsageError(`--${name} must be a whole number >= ${min}`);
  return n;
}
