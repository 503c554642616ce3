import { expect } from 'chai';
import { chunkCount, chunkLength, countOf, indicesOf, missingRanges, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE } from '../../src/protocol/index.js';
import { ConfigError, DEFAULTS, loadConfig, parseBytes, parseDuration } from '../../src/server/config/config.js';
import { parseRange } from '../../src/server/http/files.js';
import { FileSystemBytes } from '../../src/server/bytes/file-system.js';
import { chooseChunkSize } from '../../src/server/upload/service.js';

describe('chunk geometry and ranges', () => {
  it('splits a size into full chunks and a remainder', () => {
    expect(chunkCount(0, 10)).to.equal(0);
    expect(chunkCount(10, 10)).to.equal(1);
    expect(chunkCount(11, 10)).to.equal(2);
    expect(chunkLength(25, 10, 0)).to.equal(10);
    expect(chunkLength(25, 10, 2)).to.equal(5);
  });

  it('lists missing indices as half-open ranges', () => {
    const stored = new Set([0, 1, 4, 7]);
    const ranges = missingRanges(9, (i) => stored.has(i));
    expect(ranges).to.deep.equal([[2, 4], [5, 7], [8, 9]]);
    expect([...indicesOf(ranges)]).to.deep.equal([2, 3, 5, 6, 8]);
    expect(countOf(ranges)).to.equal(5);
    expect(missingRanges(3, () => true)).to.deep.equal([]);
    expect(missingRanges(3, () => false)).to.deep.equal([[0, 3]]);
  });

  it('clamps a chunk size wish into what the byte store takes', () => {
    const { capabilities } = new FileSystemBytes('unused');
    expect(chooseChunkSize(1, 100, capabilities)).to.equal(MIN_CHUNK_SIZE);
    expect(chooseChunkSize(2 ** 40, 100, capabilities)).to.equal(MAX_CHUNK_SIZE);
    expect(chooseChunkSize(4 * 2 ** 20, 100, capabilities)).to.equal(4 * 2 ** 20);
    // a 1 TiB file with 64 KiB chunks would need 16M indices: the chunk grows instead
    expect(chunkCount(2 ** 40, chooseChunkSize(MIN_CHUNK_SIZE, 2 ** 40, capabilities))).to.be.at.most(1_048_576);
    // an object store whose parts are at least 5 MiB
    expect(chooseChunkSize(1, 100, { ...capabilities, minPartSize: 5 * 2 ** 20 })).to.equal(5 * 2 ** 20);
  });
});

describe('configuration', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({})).to.deep.equal(DEFAULTS);
    expect(DEFAULTS).to.include({ port: 3000, host: '127.0.0.1', uploadDir: './uploads', dbDir: './db', chunkSize: 4 * 2 ** 20, fsync: true });
    expect(DEFAULTS.partialTtlMs).to.equal(24 * 3600_000);
  });

  it('reads environment variables, overridden by flags', () => {
    const config = loadConfig(
      { PORT: '8080', CHUNK_SIZE: '1M', PARTIAL_TTL: '15m', UPLOAD_TOKEN: 'secret', FSYNC: 'off', MAX_FILE_SIZE: '2G' },
      { port: '9090' },
    );
    expect(config).to.include({ port: 9090, chunkSize: 2 ** 20, partialTtlMs: 900_000, uploadToken: 'secret', fsync: false, maxFileSize: 2 * 2 ** 30 });
  });

  it('fails with a message naming the setting', () => {
    for (const env of [{ PORT: 'abc' }, { PORT: '70000' }, { CHUNK_SIZE: '1' }, { PARTIAL_TTL: 'soon' }, { FSYNC: 'maybe' }, { MAX_FILE_SIZE: '-5' }]) {
      const name = Object.keys(env)[0]!;
      expect(() => loadConfig(env)).to.throw(ConfigError, name);
    }
  });

  it('parses byte counts and durations', () => {
    expect(parseBytes('4194304')).to.equal(4194304);
    expect(parseBytes('4MiB')).to.equal(4194304);
    expect(parseBytes('1g')).to.equal(2 ** 30);
    expect(parseDuration('90')).to.equal(90_000);
    expect(parseDuration('1.5h')).to.equal(5_400_000);
    expect(parseDuration('7d')).to.equal(7 * 86_400_000);
  });
});

describe('HTTP Range parsing', () => {
  const etag = '"x"';
  it('handles the single-range forms', () => {
    expect(parseRange('bytes=0-9', 100, undefined, etag)).to.deep.equal([0, 9]);
    expect(parseRange('bytes=90-', 100, undefined, etag)).to.deep.equal([90, 99]);
    expect(parseRange('bytes=-10', 100, undefined, etag)).to.deep.equal([90, 99]);
    expect(parseRange('bytes=50-500', 100, undefined, etag)).to.deep.equal([50, 99]);
  });
  it('refuses unsatisfiable ranges and ignores the rest', () => {
    expect(parseRange('bytes=100-', 100, undefined, etag)).to.equal('unsatisfiable');
    expect(parseRange('bytes=5-1', 100, undefined, etag)).to.equal('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 100, undefined, etag)).to.equal(undefined);
    expect(parseRange('items=0-1', 100, undefined, etag)).to.equal(undefined);
    expect(parseRange('bytes=0-1', 100, '"stale"', etag)).to.equal(undefined);
  });
});
