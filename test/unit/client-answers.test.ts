import { expect } from 'chai';
import {
  MAX_CHUNKS, parseChunkAck, parseDeleteAnswer, parseDeleted, parseEnded, parseFileInfo, parseInitAnswer, parsePartialStatus, parseResult, parseServerError,
  parseStatusAnswer, parseWatchAnswer, UpwireError,
} from '../../src/protocol/index.js';

const MD5 = '0123456789abcdef0123456789abcdef';
const OTHER = 'ffffffffffffffffffffffffffffffff';
const SIZE = 10 * 1024 + 5;
const CS = 1024;
const mine = { md5: MD5, size: SIZE };

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof UpwireError ? err.code : `not an UpwireError: ${String(err)}`;
  }
  return undefined;
}

const partial = (over: Record<string, unknown> = {}) =>
  ({ status: 'partial', md5: MD5, size: SIZE, chunkSize: CS, total: 11, missing: [[0, 2], [5, 11]], next: 0, ...over });
const file = (over: Record<string, unknown> = {}) =>
  ({ md5: MD5, size: SIZE, name: 'a.bin', type: 'text/plain; charset=utf-8', url: `/files/${MD5}`, ...over });
const ack = (over: Record<string, unknown> = {}) =>
  ({ index: 3, offset: 16384, accepted: true, stored: false, next: 0, received: 2, total: 11, ...over });

describe('client: validators of server answers (protocol/answers.ts)', () => {
  it('accepts what the real server answers, as fresh objects without extra keys', () => {
    const status = parsePartialStatus({ ...partial(), extra: 1, ok: true }, mine, 'init');
    expect(status).to.deep.equal(partial());
    expect(parseInitAnswer({ ok: true, status: 'complete', file: { ...file(), sha256: 'A'.repeat(64), junk: {} } }, { md5: MD5.toUpperCase(), size: SIZE }))
      .to.deep.equal({ status: 'complete', file: { ...file(), sha256: 'a'.repeat(64) } });
    expect(parsePartialStatus(partial({ missing: [], next: null }), mine, 'init').next).to.equal(null);
    expect(parsePartialStatus(partial({ size: 0, total: 0, missing: [], next: null }), { md5: MD5, size: 0 }, 'init').total).to.equal(0);
    expect(parseStatusAnswer({ ok: true, status: 'none' }, mine)).to.deep.equal({ status: 'none' });
    expect(parseChunkAck(ack(), { index: 3, offset: 16384, total: 11 })).to.deep.equal(ack());
    expect(parseChunkAck(ack({ accepted: false, stored: true, next: null, received: 11 }), { index: 3, offset: 16384, total: 11 }).next).to.equal(null);
  });

  const badPartials: [string, Record<string, unknown>, { md5?: string; size?: number }?][] = [
    ['2^31 missing chunks', partial({ missing: [[0, 2 ** 31]] })],
    ['more ranges than chunks', partial({ missing: Array.from({ length: 12 }, (_, i) => [i, i + 1]) })],
    ['ranges out of order', partial({ missing: [[5, 11], [0, 2]] })],
    ['overlapping ranges', partial({ missing: [[0, 6], [5, 11]] })],
    ['an empty range', partial({ missing: [[2, 2]] })],
    ['a negative start', partial({ missing: [[-1, 2]] })],
    ['a fractional end', partial({ missing: [[0, 1.5]] })],
    ['a range of three', partial({ missing: [[0, 1, 2]] })],
    ['missing not an array', partial({ missing: { 0: [0, 1], length: 1 } })],
    ['another md5', partial({ md5: OTHER })],
    ['another size', partial({ size: SIZE + 1 })],
    ['chunkSize 0', partial({ chunkSize: 0 })],
    ['chunkSize fractional', partial({ chunkSize: 1024.5 })],
    ['total not ceil(size / chunkSize)', partial({ total: 12 })],
    ['total above MAX_CHUNKS', partial({ size: MAX_CHUNKS + 1, chunkSize: 1, total: MAX_CHUNKS + 1, missing: [] , next: null }), { md5: MD5, size: MAX_CHUNKS + 1 }],
    ['next not the first missing', partial({ next: 5 })],
    ['next a number when nothing is missing', partial({ missing: [], next: 0 })],
    ['next null when chunks are missing', partial({ next: null })],
    ['status missing', partial({ status: undefined })],
  ];
  for (const [why, answer, expected] of badPartials) {
    it(`refuses a partial status with ${why}: E_BAD_ANSWER`, () => {
      expect(code(() => parseInitAnswer(answer, expected ?? mine))).to.equal('E_BAD_ANSWER');
      expect(code(() => parseStatusAnswer(answer, expected ?? mine))).to.equal('E_BAD_ANSWER');
    });
  }

  const badFiles: [string, Record<string, unknown>][] = [
    ['another md5', file({ md5: OTHER })],
    ['size 1', file({ size: 1 })],
    ['a name with an escape sequence', file({ name: 'a\x1b[2Jb' })],
    ['a name of 300 bytes', file({ name: 'é'.repeat(150) })],
    ['an empty name', file({ name: '' })],
    ['a url of 100 000 characters', file({ url: 'u'.repeat(100_000) })],
    ['a url with a newline', file({ url: '/files/x\nSet-Cookie: a' })],
    ['a type that is not a string', file({ type: 5 })],
    ['a sha256 that is not 64 hex digits', file({ sha256: 'abc' })],
  ];
  for (const [why, bad] of badFiles) {
    it(`refuses a stored file with ${why}: E_BAD_ANSWER`, () => {
      expect(code(() => parseFileInfo(bad, mine, 'merge'))).to.equal('E_BAD_ANSWER');
    });
  }

  it('refuses a chunk ack that does not echo the frame, or counts beyond the file', () => {
    const sent = { index: 3, offset: 16384, total: 11 };
    for (const over of [{ index: 4 }, { offset: 0 }, { total: 12 }, { received: 12 }, { next: 11 }, { next: -1 }, { accepted: 1 }, { stored: 'no' }, { received: 2.5 }]) {
      expect(code(() => parseChunkAck(ack(over), sent)), JSON.stringify(over)).to.equal('E_BAD_ANSWER');
    }
    expect(code(() => parseChunkAck('ok', sent))).to.equal('E_BAD_ANSWER');
  });

  it('turns an error answer into a printable UpwireError with scalar details only', () => {
    const err = parseServerError({ code: 'E_INCOMPLETE', message: 'x\x1b]0;t\x07y', missing: [[0, 2 ** 31]], retryAfterMs: 5, __proto__x: 1, note: 'z'.repeat(1000) }, 'merge');
    expect(err).to.include({ code: 'E_INCOMPLETE', message: 'x?]0;t?y' });
    expect(err.details).to.have.keys('retryAfterMs', 'note');
    expect((err.details.note as string).length).to.be.at.most(201);
    expect(parseServerError({ code: 'E_BUSY', message: 'm'.repeat(10_000) }, 'init').message.length).to.be.at.most(501);
    for (const wire of [{ code: 'E_NOPE', message: 'x' }, { code: 'E_ABORTED', message: 'x' }, { code: 'E_BAD_ANSWER', message: 'x' }, 'E_BUSY', null]) {
      expect(code(() => { throw parseServerError(wire, 'init'); }), JSON.stringify(wire)).to.equal('E_BAD_ANSWER');
    }
  });

  it('reads a Result: ok answers pass to their validator, errors are thrown, anything else is E_BAD_ANSWER', () => {
    expect(parseResult({ ok: true, status: 'none' }, 'status')).to.include({ status: 'none' });
    expect(code(() => parseResult({ ok: false, error: { code: 'E_BUSY', message: 'later', retryAfterMs: 10 } }, 'init'))).to.equal('E_BUSY');
    for (const result of [undefined, null, 'ok', [], { ok: 'true' }, { status: 'none' }]) {
      expect(code(() => parseResult(result, 'status')), JSON.stringify(result)).to.equal('E_BAD_ANSWER');
    }
  });

  it('checks what a watcher is told: snapshots, the watched md5 only, ended events', () => {
    const snapshot = { id: `${MD5}-${'e'.repeat(32)}`, md5: MD5, name: 'a.bin', size: SIZE, total: 11, received: 2, bytes: 4000, rate: 1.5, clients: ['abc'] };
    expect(parseWatchAnswer({ ok: true, uploads: [snapshot] }, { md5: MD5 }).uploads).to.deep.equal([snapshot]);
    // a server before upload ids sends none: the md5 was the id
    const { id: _, ...older } = snapshot;
    expect(parseWatchAnswer({ ok: true, uploads: [older] }, { md5: MD5 }).uploads).to.deep.equal([{ ...older, id: MD5 }]);
    expect(code(() => parseWatchAnswer({ uploads: [{ ...snapshot, id: '../x' }] }, {}))).to.equal('E_BAD_ANSWER');
    expect(code(() => parseWatchAnswer({ uploads: [{ ...snapshot, md5: OTHER }] }, { md5: MD5 }))).to.equal('E_BAD_ANSWER');
    expect(code(() => parseWatchAnswer({ uploads: [{ ...snapshot, name: '\x1b[31mred' }] }, {}))).to.equal('E_BAD_ANSWER');
    expect(code(() => parseWatchAnswer({ uploads: [{ ...snapshot, received: 12 }] }, {}))).to.equal('E_BAD_ANSWER');
    expect(code(() => parseWatchAnswer({ uploads: 'all' }, {}))).to.equal('E_BAD_ANSWER');
    expect(parseEnded({ md5: MD5.toUpperCase(), reason: 'failed', code: 'E_CHECKSUM' })).to.deep.equal({ id: MD5, md5: MD5, reason: 'failed', code: 'E_CHECKSUM' });
    expect(code(() => parseEnded({ md5: MD5, reason: 'exploded' }))).to.equal('E_BAD_ANSWER');
  });

  it('delete: the md5 asked about and nothing else; a deleted event: an md5 and a boolean', () => {
    expect(parseDeleteAnswer({ ok: true, md5: MD5.toUpperCase(), extra: 'dropped' }, { md5: MD5 })).to.deep.equal({ md5: MD5 });
    expect(code(() => parseDeleteAnswer({ ok: true, md5: OTHER }, { md5: MD5 }))).to.equal('E_BAD_ANSWER');
    expect(code(() => parseDeleteAnswer({ ok: true }, { md5: MD5 }))).to.equal('E_BAD_ANSWER');
    expect(parseDeleted({ md5: MD5, stored: false })).to.deep.equal({ md5: MD5, stored: false });
    expect(code(() => parseDeleted({ md5: MD5, stored: 'no' }))).to.equal('E_BAD_ANSWER');
    expect(code(() => parseDeleted({ md5: '../x', stored: true }))).to.equal('E_BAD_ANSWER');
    expect(code(() => parseDeleted(null))).to.equal('E_BAD_ANSWER');
  });
});
