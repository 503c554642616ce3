/*
 * Removes what tsc built from a source that is gone (a file moved or deleted): tsc never deletes
 * an output, and mocha would go on running a test file whose source no longer exists.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const OUTPUT = /\.(?:js|js\.map|d\.ts|d\.ts\.map)$/;

function prune(dir) {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      prune(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
      continue;
    }
    if (!OUTPUT.test(name)) continue;
    const source = join(root, relative(dist, path)).replace(OUTPUT, '.ts');
    if (!existsSync(source)) rmSync(path);
  }
}

for (const tree of ['src', 'test', 'bench', 'examples']) prune(join(dist, tree));
