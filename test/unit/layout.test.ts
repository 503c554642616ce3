/*
 * docs/layout.md's tree names every file of src/server in its folder, and nothing that is not there:
 * a newcomer walks the tree by it.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** The .ts files of each folder under src/server ('' for src/server itself). */
function tree(): Map<string, Set<string>> {
  const folders = new Map<string, Set<string>>();
  const server = join(root, 'src/server');
  for (const name of readdirSync(server)) {
    if (statSync(join(server, name)).isDirectory()) folders.set(name, new Set(readdirSync(join(server, name)).filter((f) => f.endsWith('.ts'))));
    else if (name.endsWith('.ts')) folders.set('', new Set([...(folders.get('') ?? []), name]));
  }
  return folders;
}

/** The files the Layout block names for src/server and for each `  <folder>/` line under it. */
function layout(): Map<string, Set<string>> {
  const page = readFileSync(join(root, 'docs/layout.md'), 'utf8');
  const block = /## The tree\n\n```\n([\s\S]*?)```/.exec(page)?.[1];
  if (!block) throw new Error('docs/layout.md has no block under "## The tree"');
  const named = new Map<string, Set<string>>();
  let folder: string | undefined;
  for (const line of block.split('\n')) {
    const head = /^(src\/server\/| {2}([\w-]+)\/|\S)/.exec(line);
    if (head) folder = head[1] === 'src/server/' ? '' : head[2];
    if (folder === undefined) continue;
    const files = named.get(folder) ?? new Set<string>();
    for (const [file] of line.matchAll(/[\w-]+\.ts\b/g)) files.add(file);
    named.set(folder, files);
  }
  return named;
}

describe('the tree in docs/layout.md', () => {
  it('names every file of src/server in its folder, and no file that is not there', () => {
    const actual = tree();
    const named = layout();
    for (const [folder, files] of actual) {
      expect([...(named.get(folder) ?? [])].sort(), `src/server/${folder}`).to.deep.equal([...files].sort());
    }
    expect([...named.keys()].sort()).to.deep.equal([...actual.keys()].sort());
  });
});
