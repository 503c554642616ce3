/*
 * The public API of the package, as API Extractor reads it from the built declarations: one report
 * per entry point that package.json exports, in api/. `node scripts/api-report.js` checks that the
 * declarations still say what the committed reports say (exit 1 and the entry names otherwise);
 * `--update` rewrites the reports (commit them with the change that moved the API on purpose).
 * Where a declaration lives does not show in a report: files can move without changing the API.
 * Run after `npm run build`.
 */
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const update = process.argv.includes('--update');

/** The entry points of package.json's "exports", by report name. */
const ENTRIES = {
  'upwire': 'dist/src/client/node.d.ts',
  // What `upwire` declares where TypeScript applies neither the node nor the browser condition (a bundler project).
  'upwire-universal': 'dist/src/client/universal.d.ts',
  'upwire-browser': 'dist/src/client/browser.d.ts',
  'upwire-server': 'dist/src/server/index.d.ts',
  'upwire-s3': 'dist/src/server/bytes/s3.d.ts',
  'upwire-protocol': 'dist/src/protocol/index.d.ts',
};

const changed = [];
for (const [name, entry] of Object.entries(ENTRIES)) {
  const temp = `${root}dist/api-temp`;
  mkdirSync(temp, { recursive: true });
  mkdirSync(`${root}api`, { recursive: true });
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder: root,
      mainEntryPointFilePath: `<projectFolder>/${entry}`,
      compiler: { tsconfigFilePath: '<projectFolder>/tsconfig.json' },
      apiReport: { enabled: true, reportFolder: '<projectFolder>/api/', reportTempFolder: temp, reportFileName: name },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        // The report is the point; notes about doc comments are not. A type the API uses without
        // exporting it (UploadService behind `upwire.service`) is named in the report.
        extractorMessageReporting: {
          default: { logLevel: 'none', addToApiReportFile: false },
          'ae-forgotten-export': { logLevel: 'none', addToApiReportFile: true },
        },
        tsdocMessageReporting: { default: { logLevel: 'none' } },
        compilerMessageReporting: { default: { logLevel: 'error' } },
      },
    },
    configObjectFullPath: undefined,
    packageJsonFullPath: `${root}package.json`,
  });
  const result = Extractor.invoke(config, { localBuild: update, messageCallback: (message) => (message.handled = message.logLevel !== 'error') });
  if (!result.succeeded && !result.apiReportChanged) throw new Error(`API Extractor failed on ${entry}: ${result.errorCount} errors`);
  if (result.apiReportChanged) changed.push(name);
}
if (changed.length === 0) console.log('api: the declarations match api/*.api.md');
else if (update) console.log(`api: updated ${changed.map((n) => `api/${n}.api.md`).join(', ')}`);
else {
  console.error(`api: the public API changed (${changed.join(', ')}); compare dist/api-temp/ with api/, and run npm run api to accept it`);
  process.exitCode = 1;
}
