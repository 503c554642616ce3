import { expect } from 'chai';
import { parseChunk, parseInit, parseMd5, parseMd5Request, parseWatch, UpwireError } from '../../src/protocol/index.js';

const MD5 = '0123456789abcdef0123456789abcdef';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof UpwireError ? err.code : 'not an UpwireError';
  }
  return undefined;
}

describe('payload validators', () => {
  it('accepts a well-formed init and lower-cases the md5', () => {
    expect(parseInit({ md5: MD5.toUpperCase(), size: 10, name: 'a.bin' })).to.deep.equal({
      md5: MD5, size: 10, name: 'a.bin', type: 'application/octet-stream',
    });
    expect(parseInit({ md5: MD5, size: 0, name: 'é 文件.txt', type: 'text/plain; charset=utf-8', chunkSize: 65536 }))
      .to.include({ chunkSize: 65536, type: 'text/plain; charset=utf-8' });
  });

  const badInits: [string, unknown][] = [
    ['not an object', 'hello'],
    ['null', null],
    ['an array', [MD5, 1, 'a']],
    ['md5 too short', { md5: 'abc', size: 1, name: 'a' }],
    ['md5 non-hex', { md5: 'g'.repeat(32), size: 1, name: 'a' }],
    ['md5 a number', { md5: 123, size: 1, name: 'a' }],
    ['md5 an operator object', { md5: { $gt: '' }, size: 1, name: 'a' }],
    ['md5 full-width digits', { md5: '０'.repeat(32), size: 1, name: 'a' }],
    ['md5 a path', { md5: '../../../../etc/passwd/xxxxxxxxxx', size: 1, name: 'a' }],
    ['size negative', { md5: MD5, size: -1, name: 'a' }],
    ['size fractional', { md5: MD5, size: 1.5, name: 'a' }],
    ['size a string', { md5: MD5, size: '10', name: 'a' }],
    ['size NaN', { md5: MD5, size: NaN, name: 'a' }],
    ['size Infinity', { md5: MD5, size: Infinity, name: 'a' }],
    ['size -0', { md5: MD5, size: -0, name: 'a' }],
    ['size above 2^53', { md5: MD5, size: 2 ** 53, name: 'a' }],
    ['name empty', { md5: MD5, size: 1, name: '' }],
    ['name with NUL', { md5: MD5, size: 1, name: 'a\u0000b' }],
    ['name with CR/LF', { md5: MD5, size: 1, name: 'a\r\nb' }],
    ['name with ANSI escape', { md5: MD5, size: 1, name: '\u001b[31mred' }],
    ['name with RTL override', { md5: MD5, size: 1, name: 'evil\u202egpj.exe' }],
    ['name with a lone surrogate', { md5: MD5, size: 1, name: 'a\ud800b' }],
    ['name over 255 bytes', { md5: MD5, size: 1, name: 'é'.repeat(128) }],
    ['name not a string', { md5: MD5, size: 1, name: ['a'] }],
    ['type with a newline', { md5: MD5, size: 1, name: 'a', type: 'text/plain\r\nX-Evil: 1' }],
    ['chunkSize zero', { md5: MD5, size: 1, name: 'a', chunkSize: 0 }],
    ['chunkSize a string', { md5: MD5, size: 1, name: 'a', chunkSize: '4M' }],
  ];
  for (const [what, payload] of badInits) {
    it(`refuses init with ${what} as E_BAD_REQUEST`, () => {
      expect(code(() => parseInit(payload))).to.equal('E_BAD_REQUEST');
    });
  }

  it('does not read inherited fields (prototype pollution)', () => {
    const payload = Object.create({ md5: MD5, size: 1, name: 'a' }) as object;
    expect(code(() => parseInit(payload))).to.equal('E_BAD_REQUEST');
    const parsed = parseInit(JSON.parse(`{"md5":"${MD5}","size":1,"name":"a","__proto__":{"polluted":true},"constructor":{"x":1}}`));
    expect(Object.keys(parsed).sort()).to.deep.equal(['md5', 'name', 'size', 'type']);
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });

  it('validates chunks: binary data, canonical index and total', () => {
    const data = new Uint8Array(4);
    expect(parseChunk({ md5: MD5, index: 0, total: 1, data }).data).to.equal(data);
    expect(parseChunk({ md5: MD5, index: 0, total: 1, data: new ArrayBuffer(4) }).data.byteLength).to.equal(4);
    for (const bad of [
      { md5: MD5, index: -1, total: 1, data },
      { md5: MD5, index: 0.5, total: 1, data },
      { md5: MD5, index: '0', total: 1, data },
      { md5: MD5, index: 0, total: -1, data },
      { md5: MD5, index: 0, total: 1, data: 'AAAA' },
      { md5: MD5, index: 0, total: 1, data: { 0: 1, length: 1 } },
      { md5: MD5, index: 0, total: 1, data: [1, 2, 3] },
      { md5: MD5, index: 0, total: 1 },
    ]) {
      expect(code(() => parseChunk(bad)), JSON.stringify(bad)).to.equal('E_BAD_REQUEST');
    }
  });

  it('validates md5 requests and watch requests', () => {
    expect(parseMd5Request({ md5: MD5 })).to.deep.equal({ md5: MD5 });
    expect(code(() => parseMd5Request({}))).to.equal('E_BAD_REQUEST');
    expect(parseWatch(undefined)).to.deep.equal({});
    expect(parseWatch({})).to.deep.equal({});
    expect(parseWatch({ md5: MD5 })).to.deep.equal({ md5: MD5 });
    expect(code(() => parseWatch({ md5: 1 }))).to.equal('E_BAD_REQUEST');
    expect(code(() => parseMd5('x'))).to.equal('E_BAD_REQUEST');
  });
});
