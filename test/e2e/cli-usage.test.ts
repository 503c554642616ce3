import { expect } from 'chai';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MiB } from '../../src/protocol/index.js';
import { CONFIG_FLAGS } from '../../src/server/config/config.js';
import { runCli } from '../support/client-cli.js';
import { randomFile, tempDir } from '../support/fixtures.js';
import { REPO } from '../support/package-project.js';
import { startTestServer, type TestServer } from '../support/server.js';

/*
 * The CLI a newcomer meets: --version, --help for each command with every option and its default,
 * one line for a mistake on the command line (never parseArgs' own text), and failures said in the
 * user's terms. Run from the built dist/ (UPWIRE_TEST_CLI points at another build).
 */

/** The options a command's --help lists, as `--name` (and -h, --help). */
function optionsIn(help: string): string[] {
  return [...help.matchAll(/^ {2}(?:-h, )?(--[\w-]+)/gm)].map((m) => m[1]!);
}

/** Each option line of a --help: its default is said. */
function optionLines(help: string): string[] {
  return help.split('\n').filter((line) => /^ {2}--/.test(line));
}

const UPLOAD_OPTIONS = ['--url', '--token', '--max-in-flight', '--chunk-size', '--retries', '--parallel', '--no-hash-cache', '--meta', '--help'];
const WATCH_OPTIONS = ['--url', '--token', '--md5', '--help'];
const DELETE_OPTIONS = ['--url', '--token', '--no-hash-cache', '--help'];

describe('CLI: --version, --help, mistakes on the command line, failures in the user\'s terms', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await dir.remove();
  });

  it('upwire --version prints the package\'s version, exit 0', async () => {
    const { version } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const run = await runCli([flag]);
      expect(run, run.stderr).to.include({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  for (const [command, expected] of [['upload', UPLOAD_OPTIONS], ['watch', WATCH_OPTIONS], ['delete', DELETE_OPTIONS], ['serve', [...CONFIG_FLAGS.map((f) => `--${f}`), '--workers', '--help']]] as const) {
    it(`upwire ${command} --help and -h list every option with its default, exit 0`, async () => {
      for (const flag of ['--help', '-h']) {
        const run = await runCli([command, flag]);
        expect(run.code, run.stderr).to.equal(0);
        expect(run.stderr).to.equal('');
        expect(run.stdout).to.match(new RegExp(`^usage: upwire ${command} `));
        expect(optionsIn(run.stdout)).to.deep.equal(expected);
        for (const line of optionLines(run.stdout)) expect(line).to.match(/\(default: [^)]+\)$/);
      }
    });
  }

  it('serve --help says the defaults in the units a user types', async () => {
    const run = await runCli(['serve', '--help']);
    const line = (flag: string) => run.stdout.split('\n').find((l) => l.startsWith(`  --${flag} `));
    expect(line('max-file-size')).to.match(/\(default: 1 TiB\)$/);
    expect(line('chunk-size')).to.match(/\(default: 4 MiB\)$/);
    expect(line('partial-ttl')).to.match(/env PARTIAL_TTL \(default: 24h\)$/);
    expect(line('fsync')).to.match(/\(default: on\)$/);
  });

  it('an unknown option, a missing value or a stray argument: one line naming it and the help hint, exit 2', async () => {
    const cases: [string[], string][] = [
      [['upload', 'a.bin', '--url', 'http://127.0.0.1:9', '--bogus'], 'upwire: unknown option --bogus (see upwire upload --help)\n'],
      [['upload', 'a.bin', '--url'], 'upwire: --url needs a value (see upwire upload --help)\n'],
      [['upload', 'a.bin', '--url', 'http://127.0.0.1:9', '--no-hash-cache=yes'], 'upwire: --no-hash-cache takes no value (see upwire upload --help)\n'],
      [['watch', 'stray', '--url', 'http://127.0.0.1:9'], 'upwire: unexpected argument "stray" (see upwire watch --help)\n'],
      [['serve', '--prot', '3000'], 'upwire: unknown option --prot (see upwire serve --help)\n'],
      [['delete', 'a.bin', '--url', 'http://127.0.0.1:9', '--bogus'], 'upwire: unknown option --bogus (see upwire delete --help)\n'],
      [['delete', '--url', 'http://127.0.0.1:9'], 'upwire: nothing to delete: give md5s or files (see upwire delete --help)\n'],
      [['upload', 'a.bin'], 'upwire: no server: give --url or UPWIRE_URL (see upwire upload --help)\n'],
      [['frobnicate'], 'upwire: unknown command "frobnicate" (see upwire --help)\n'],
    ];
    for (const [args, stderr] of cases) {
      const run = await runCli(args);
      expect(run, args.join(' ')).to.include({ code: 2, stdout: '', stderr });
    }
  });

  describe('against a server with a token and a 10 MiB limit', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ uploadToken: 'right', maxFileSize: 10 * MiB });
    });
    after(async () => {
      await server.stop();
    });

    it('no token: "the server needs a token", and how to give one; a wrong one: "refused the token"', async () => {
      const file = await randomFile(dir.path, 1000, 'tokenless.bin');
      const none = await runCli(['upload', file.path, '--url', server.url, '--no-hash-cache']);
      expect(none).to.include({ code: 1, stdout: '' });
      expect(none.stderr).to.equal(`failed ${file.path}: the server needs a token (--token or UPWIRE_TOKEN) [E_UNAUTHORIZED]\n`);
      const wrong = await runCli(['upload', file.path, '--url', server.url, '--token', 'wrong', '--no-hash-cache']);
      expect(wrong.stderr).to.equal(`failed ${file.path}: the server refused the token [E_UNAUTHORIZED]\n`);
    });

    it('a file above the limit: the sizes in binary units, refused before it is hashed', async () => {
      const path = join(dir.path, 'video.mp4');
      const handle = await open(path, 'w');
      await handle.truncate(600 * MiB);
      await handle.close();
      const run = await runCli(['upload', path, '--url', server.url, '--token', 'right', '--no-hash-cache']);
      expect(run).to.include({ code: 1, stdout: '' });
      // One line: no hashing progress came before it.
      expect(run.stderr).to.equal(`failed ${path}: 600 MiB is above the limit of 10 MiB [E_TOO_LARGE]\n`);
    });
  });
});
