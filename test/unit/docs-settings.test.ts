/*
 * The settings pages name every setting: docs/server.md every flag `upwire serve` reads (with its
 * environment variable beside it in the table), docs/embedding.md every createUpwire option name.
 * A setting added to config.ts without a line in the docs fails here.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONFIG_FLAGS, DEFAULTS } from '../../src/server/config/config.js';

const page = (name: string) => readFileSync(fileURLToPath(new URL(`../../../docs/${name}`, import.meta.url)), 'utf8');

describe('the settings in docs/', () => {
  it('docs/server.md has a table row for every flag of upwire serve', () => {
    const rows = page('server.md').split('\n').filter((line) => line.startsWith('|'));
    expect(CONFIG_FLAGS.filter((flag) => !rows.some((row) => row.includes(`\`--${flag}\``)))).to.deep.equal([]);
  });

  it('docs/embedding.md names every option createUpwire takes from the settings', () => {
    const embedding = page('embedding.md');
    const options = Object.keys(DEFAULTS).filter((key) => key !== 'port' && key !== 'logLevel');
    expect(options.filter((key) => !embedding.includes(`\`${key}\``))).to.deep.equal([]);
  });
});
