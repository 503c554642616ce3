import { stat } from 'node:fs/promises';
import { deleteFile, FileHashCache, NodeFileSource, nodeMd5, UpwireError } from '../client/node.js';
import { helpText, parseCommand, text, UsageError, type CommandSpec } from './options.js';

const DELETE: CommandSpec = {
  name: 'delete',
  usage: 'upwire delete <md5|file>... --url <server> [options]',
  summary: 'Deletes your stored files: your entry of each (the content goes when no one else has it). A file given by path is hashed to find its md5, or its md5 is taken from the hash cache when the file is unchanged since it was hashed.',
  positionals: true,
  options: {
    url: { type: 'string', value: 'URL', help: 'the server, with the path it is mounted under', default: '$UPWIRE_URL' },
    token: { type: 'string', value: 'T', help: 'the upload token', default: '$UPWIRE_TOKEN, else $UPLOAD_TOKEN' },
    'no-hash-cache': { type: 'boolean', help: 'hash each file given by path, without the hash cache (also UPWIRE_HASH_CACHE=off)', default: 'off' },
  },
  notes: ['exit: 0 every one was deleted, 1 one was not (not yours or not there: [E_NOT_FOUND]), 2 a usage error.'],
};

const MD5 = /^[0-9a-f]{32}$/i;

/** Deletes each md5 (or the file at each path, hashed), one line each on stderr and a JSON line on stdout per deleted file. */
export async function deleteCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(DELETE, argv);
  if (!parsed) {
    console.log(helpText(DELETE));
    return 0;
  }
  const { values, positionals } = parsed;
  const url = text(values, 'url') ?? process.env.UPWIRE_URL;
  const token = text(values, 'token') ?? process.env.UPWIRE_TOKEN ?? process.env.UPLOAD_TOKEN;
  if (!url) throw new UsageError('no server: give --url or UPWIRE_URL (see upwire delete --help)');
  if (positionals.length === 0) throw new UsageError('nothing to delete: give md5s or files (see upwire delete --help)');
  const cache = values['no-hash-cache'] === true || process.env.UPWIRE_HASH_CACHE === 'off' ? undefined : new FileHashCache();
  let failures = 0;
  for (const target of positionals) {
    try {
      const md5 = await md5Of(target, cache);
      await deleteFile({ url, md5, ...(token ? { token } : {}) });
      process.stderr.write(`deleted ${target}${target === md5 ? '' : ` (md5 ${md5})`}\n`);
      process.stdout.write(`${JSON.stringify({ target, md5 })}\n`);
    } catch (err) {
      const error = err instanceof UpwireError ? err : new UpwireError('E_INTERNAL', (err as Error).message);
      process.stderr.write(`failed ${target}: ${error.message} [${error.code}]\n`);
      failures++;
    }
  }
  return failures === 0 ? 0 : 1;
}

/** A path that exists is a file to hash (even one named like an md5); else 32 hex digits are an md5. */
async function md5Of(target: string, cache: FileHashCache | undefined): Promise<string> {
  const exists = await stat(target).then(() => true, () => false);
  if (!exists) {
    if (MD5.test(target)) return target.toLowerCase();
    throw new UpwireError('E_FILE', `${target} is neither a file nor an md5 (32 hex digits)`);
  }
  const source = await NodeFileSource.open(target);
  try {
    const identity = cache ? await source.identity().catch(() => undefined) : undefined;
    const remembered = cache && identity ? await cache.get(identity).catch(() => undefined) : undefined;
    if (remembered) return remembered;
    const md5 = await nodeMd5(source, () => {}, new AbortController().signal);
    if (cache && identity) await cache.set(identity, md5).catch(() => {});
    return md5;
  } finally {
    await source.close();
  }
}
