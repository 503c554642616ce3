/*
 * `import { createUpwire } from 'upwire/server'` in a project that installed the packed tarball and
 * none of the server's packages (optional peers): one error, whose message is the `npm install`
 * line, rather than Node's ERR_MODULE_NOT_FOUND for some path inside upwire. The client there
 * still loads. With the packages installed the same import works (package-types and the docs'
 * snippets run that side).
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { consumerProject, run } from '../support/package-project.js';

const INSTALL = 'npm install socket.io level pino pino-pretty prom-client';

describe('upwire/server without its peer packages', function () {
  this.timeout(180_000);

  it('fails at the import with one error naming the npm install line', async () => {
    const project = await consumerProject('client');
    await writeFile(join(project, 'embed.mjs'), "import { createUpwire } from 'upwire/server';\nconsole.log(typeof createUpwire);\n");
    const result = await run(process.execPath, ['embed.mjs'], { cwd: project, timeoutMs: 30_000 });
    expect(result.code, result.stderr).to.equal(1);
    expect(result.stdout).to.equal('');
    expect(result.stderr).to.match(/^MissingPackageError: upwire\/server needs the server's packages \((socket\.io|level|pino|prom-client) is missing\): npm install socket\.io level pino pino-pretty prom-client$/m);
    // One error: the line once, and not Node's own message about a path inside upwire.
    expect(result.stderr.split(INSTALL).length - 1, result.stderr).to.equal(1);
    expect(result.stderr).not.to.include('Cannot find package');
  });

  it('leaves the client importable in that project', async () => {
    const project = await consumerProject('client');
    await writeFile(join(project, 'client.mjs'), "import { upload } from 'upwire';\nconsole.log(typeof upload);\n");
    const result = await run(process.execPath, ['client.mjs'], { cwd: project, timeoutMs: 30_000 });
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('function\n');
  });
});
