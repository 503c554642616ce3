// Bundles the browser page and the MD5 worker into dist/public, which the server serves at / and /assets/.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';

const out = 'dist/public';
await mkdir(out, { recursive: true });
const common = { bundle: true, minify: true, sourcemap: true, platform: 'browser', target: ['chrome109', 'firefox115', 'safari16'], logLevel: 'warning' };
await Promise.all([
  build({ ...common, entryPoints: ['src/page/app.ts'], outfile: `${out}/app.js`, format: 'esm' }),
  build({ ...common, entryPoints: ['src/client/hash-worker.ts'], outfile: `${out}/hash-worker.js`, format: 'iife' }),
  copyFile('src/page/index.html', `${out}/index.html`),
  copyFile('src/page/style.css', `${out}/style.css`),
]);
