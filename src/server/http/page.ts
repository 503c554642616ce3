import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendError, stream } from './responses.js';

/** The bundled page (npm run build): dist/public beside dist/src. */
const PUBLIC_DIR = fileURLToPath(new URL('../../../public/', import.meta.url));
const ASSET_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json',
};
const NOT_BUILT = 'the page is not built: run npm run build';

/** The page, told where its socket is (a meta tag): it may be mounted under any path, next to another app's socket.io. */
export async function sendPage(req: IncomingMessage, res: ServerResponse, page: { socketPath: string; namespace: string; maxFileSize?: number }): Promise<void> {
  let html: string;
  try {
    html = await readFile(join(PUBLIC_DIR, 'index.html'), 'utf8');
  } catch {
    return sendError(res, 'E_NOT_FOUND', NOT_BUILT, 503);
  }
  const meta = `<meta name="upwire-socket" content="${escapeAttribute(JSON.stringify(page))}">`;
  const body = html.replace('<!-- upwire-socket -->', meta);
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

/** Files of the page bundle; the name was matched against a strict pattern, so it cannot leave PUBLIC_DIR. */
export async function sendAsset(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
  const path = join(PUBLIC_DIR, name);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return name === 'index.html' ? sendError(res, 'E_NOT_FOUND', NOT_BUILT, 503) : sendError(res, 'E_NOT_FOUND', 'not found');
  }
  res.writeHead(200, {
    'Content-Type': ASSET_TYPES[extname(name)] ?? 'application/octet-stream',
    'Content-Length': size,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await stream(createReadStream(path), res, 60_000);
}
