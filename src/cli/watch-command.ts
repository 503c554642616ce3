import { watch } from '../client/node.js';
import { parseMd5 } from '../protocol/index.js';
import { helpText, parseCommand, text, UsageError, type CommandSpec } from './options.js';
import { WatchView } from './watch-view.js';

export const WATCH: CommandSpec = {
  name: 'watch',
  usage: 'upwire watch --url <server> [options]',
  summary: 'Shows the uploads in flight on the server as they happen, until Ctrl-C; with --md5, follows one upload to its end.',
  options: {
    url: { type: 'string', value: 'URL', help: 'the server, with the path it is mounted under', default: '$UPWIRE_URL' },
    token: { type: 'string', value: 'T', help: 'the watch token (or the upload token)', default: '$UPWIRE_TOKEN, else $WATCH_TOKEN, else $UPLOAD_TOKEN' },
    md5: { type: 'string', value: 'MD5', help: 'follow this upload only; exit when it ends', default: 'every upload' },
  },
  notes: ['exit: 0 on Ctrl-C or when the upload followed is stored, 1 when it is aborted, expires or fails, 2 a usage error.'],
};

/**
 * Shows uploads as they happen until Ctrl-C (exit 0). With --md5 it follows one upload and exits 0
 * when it completes (at once when already stored), 1 when it is aborted, expires or fails.
 */
export async function watchCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(WATCH, argv);
  if (!parsed) {
    console.log(helpText(WATCH));
    return 0;
  }
  const values = {
    url: text(parsed.values, 'url') ?? process.env.UPWIRE_URL,
    token: text(parsed.values, 'token') ?? process.env.UPWIRE_TOKEN ?? process.env.WATCH_TOKEN ?? process.env.UPLOAD_TOKEN,
    md5: text(parsed.values, 'md5'),
  };
  if (!values.url) throw new UsageError('no server: give --url or UPWIRE_URL (see upwire watch --help)');
  // Normalised once: the server's events carry the md5 in lower case, and a user may type it in upper.
  const md5 = values.md5 === undefined ? undefined : md5Option(values.md5);
  const view = new WatchView(process.stdout);
  const watcher = await watch({ url: values.url, ...(values.token ? { token: values.token } : {}), ...(md5 ? { md5 } : {}) });
  try {
    const exit = new Promise<number>((resolve) => {
      process.once('SIGINT', () => resolve(0));
      process.once('SIGTERM', () => resolve(0));
      watcher.on('snapshot', (uploads) => view.snapshot(uploads));
      watcher.on('progress', (upload) => view.progress(upload));
      watcher.on('complete', (file) => {
        view.complete(file);
        if (file.md5 === md5) resolve(0);
      });
      watcher.on('ended', (event) => {
        view.ended(event);
        if (event.md5 === md5) resolve(1);
      });
      // Only drops we did not cause: closing the watcher on the way out is not one (see Watcher).
      watcher.on('disconnected', (reason) => view.message(`connection lost (${reason}); reconnecting…`));
    });
    view.snapshot(watcher.uploads);
    if (md5) {
      const status = await watcher.status(md5);
      if (status.status === 'complete') {
        view.complete(status.file);
        return 0;
      }
    }
    return await exit;
  } finally {
    view.close();
    watcher.close();
  }
}

function md5Option(value: string): string {
  try {
    return parseMd5(value, '--md5');
  } catch {
    throw new UsageError(`--md5 must be 32 hex digits, not ${JSON.stringify(value)} (see upwire watch --help)`);
  }
}
