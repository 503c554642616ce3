import { expect } from 'chai';
import fc from 'fast-check';
import {
  indicesOf, missingRanges, parseChunk, parseCount, parseInit, parseMd5, parseName, UpwireError,
} from '../../src/protocol/index.js';

/** Runs `fn`; a validator may only ever throw E_BAD_REQUEST. */
function outcome<T>(fn: () => T): { ok: true; value: T } | { ok: false } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    expect(err).to.be.instanceOf(UpwireError);
    expect((err as UpwireError).code).to.equal('E_BAD_REQUEST');
    return { ok: false };
  }
}

const anyValue = fc.oneof(fc.anything(), fc.double(), fc.integer(), fc.bigInt(), fc.constantFrom(-0, NaN, Infinity, 2 ** 53, -1));

describe('validator properties (fast-check)', () => {
  it('parseCount accepts exactly the non-negative safe integers, and returns them unchanged', () => {
    fc.assert(fc.property(anyValue, (value) => {
      const canonical = typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && !Object.is(value, -0);
      const result = outcome(() => parseCount(value, 'n'));
      expect(result.ok).to.equal(canonical);
      if (result.ok) expect(result.value).to.equal(value);
    }), { numRuns: 2000 });
  });

  it('parseMd5 accepts exactly 32 hex digits and lower-cases them', () => {
    const hex32 = fc.stringMatching(/^[0-9a-fA-F]{32}$/);
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), hex32, anyValue), (value) => {
      const result = outcome(() => parseMd5(value));
      expect(result.ok).to.equal(typeof value === 'string' && /^[0-9a-f]{32}$/i.test(value));
      if (result.ok) expect(result.value).to.equal((value as string).toLowerCase());
    }), { numRuns: 2000 });
  });

  it('parseName never lets through control characters, bidi overrides, broken Unicode or more than 255 bytes', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'binary' }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) })), (value) => {
      const result = outcome(() => parseName(value));
      if (!result.ok) return;
      expect(result.value.isWellFormed()).to.equal(true);
      // eslint-disable-next-line no-control-regex
      expect(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(result.value)).to.equal(false);
      expect(Buffer.byteLength(result.value)).to.be.within(1, 255);
    }), { numRuns: 3000 });
  });

  it('parseInit and parseChunk throw only E_BAD_REQUEST on arbitrary payloads, and keep only known fields', () => {
    const payloads = fc.oneof(
      anyValue,
      fc.dictionary(fc.constantFrom('md5', 'size', 'name', 'type', 'chunkSize', 'index', 'total', 'offset', 'data', '__proto__', 'constructor'), anyValue),
      fc.record({ md5: fc.stringMatching(/^[0-9a-f]{32}$/), size: fc.nat(), name: fc.string({ minLength: 1 }), index: fc.nat(), total: fc.nat(), data: fc.uint8Array() }, { requiredKeys: [] }),
    );
    fc.assert(fc.property(payloads, (payload) => {
      const init = outcome(() => parseInit(payload));
      if (init.ok) expect(Object.keys(init.value).every((k) => ['md5', 'size', 'name', 'type', 'chunkSize'].includes(k))).to.equal(true);
      const chunk = outcome(() => parseChunk(payload));
      if (chunk.ok) expect(Object.keys(chunk.value).sort()).to.deep.equal(['data', 'index', 'md5', 'offset', 'total']);
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
    }), { numRuns: 3000 });
  });

  it('missing ranges list exactly the absent indices, as sorted, disjoint, non-adjacent ranges', () => {
    fc.assert(fc.property(fc.array(fc.boolean(), { maxLength: 300 }), (stored) => {
      const ranges = missingRanges(stored.length, (i) => stored[i]!);
      expect([...indicesOf(ranges)]).to.deep.equal(stored.flatMap((s, i) => (s ? [] : [i])));
      for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).to.be.greaterThan(ranges[i - 1]![1]);
    }), { numRuns: 1000 });
  });
});
