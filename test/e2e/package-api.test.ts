/*
 * The public API is what api/*.api.md says (scripts/api-report.js, API Extractor over the built
 * declarations of each entry point in package.json's "exports"): a change to it is made on purpose,
 * with `npm run api`, and shows in the diff of those reports. Moving a file changes nothing there.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../../..', import.meta.url));

describe('the public API (api/*.api.md)', function () {
  this.timeout(120_000);

  it('is what the committed reports say, for every entry point', async () => {
    const run = await promisify(execFile)(process.execPath, ['scripts/api-report.js'], { cwd: root }).then(
      ({ stdout }) => ({ code: 0, out: stdout }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
    );
    expect(run.code, run.out).to.equal(0);
  });
});
