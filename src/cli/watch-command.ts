import { parseArgs } from 'node:util';
import { watch } from '../client/node.js';
import { parseMd5 } from '../protocol/index.js';
import { UsageError } from './upload-command.js';
import { WatchView } from './watch-view.js';

export const WATCH_USAGE = 'usage: upwire watch --url <server> [--token T] [--md5 <md5>]';

/**
 * Shows uploads as they happen until Ctrl-C (exit 0). With --md5 it follows one upload and exits 0
 * when it completes (at once when already stored), 1 when it is aborted, expires or fails.
 */
export async function watchCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string', default: process.env.UPWIRE_URL },
      token: { type: 'string', default: process.env.WATCH_TOKEN ?? process.env.UPLOAD_TOKEN },
      md5: { type: 'string' },
    },
  });
  if (!values.url) throw new UsageError(WATCH_USAGE);
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
    throw new UsageError(`--md5 must be 32 hex digits, not ${JSON.stringify(value)}\n${WATCH_USAGE}`);
  }
}
