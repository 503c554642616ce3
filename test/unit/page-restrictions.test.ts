import { expect } from 'chai';
import { parseSize, pickerAccept, readRestrictions, refusalOf } from '../../src/page/restrictions.js';

describe('the page\'s restrictions: the server\'s limit, data attributes on <html>, the query string', () => {
  it('reads sizes as bytes or a number and a unit, and ignores anything else', () => {
    expect([parseSize('10485760'), parseSize('10MiB'), parseSize('1.5 GB'), parseSize('2kib'), parseSize(4096)]).to.deep.equal([10_485_760, 10_485_760, 1_500_000_000, 2048, 4096]);
    for (const bad of ['', 'ten', '-1', '10 parsecs', '1e3', 'constructor', '9'.repeat(30), -5, 1.5, Infinity]) expect(parseSize(bad), String(bad)).to.equal(undefined);
  });

  it('applies every source: the smallest size and count, and each type list', () => {
    const html = { maxFileSize: '1MiB', accept: '.pdf, image/*', maxFiles: '5' };
    const query = new URLSearchParams('maxFileSize=10MiB&accept=.pdf&maxFiles=2');
    expect(readRestrictions({ maxFileSize: 4096 }, html, query)).to.deep.equal({ maxFileSize: 4096, maxFiles: 2, accept: [['.pdf', 'image/*'], ['.pdf']] });
    expect(readRestrictions({}, {}, new URLSearchParams())).to.deep.equal({ accept: [] });
    // Settings that are not settings are ignored, not read as zero.
    expect(readRestrictions({ maxFileSize: 'big' }, { maxFiles: '0', accept: 'pdf, <script>' }, new URLSearchParams('maxFiles=-1'))).to.deep.equal({ accept: [] });
  });

  it('refuses by count, then size, then type, with a message; the picker filters by a single list', () => {
    const restrictions = { maxFileSize: 1000, maxFiles: 2, accept: [['.pdf', 'image/*']] };
    const pdf = { name: 'Report.PDF', size: 10, type: 'application/pdf' };
    expect(refusalOf(pdf, restrictions, 0)).to.equal(undefined);
    expect(refusalOf({ name: 'cat.jpg', size: 10, type: 'image/jpeg' }, restrictions, 1)).to.equal(undefined);
    expect(refusalOf(pdf, restrictions, 2)).to.deep.equal({ reason: 'count', message: 'Not added: at most 2 files at a time. Remove one to add another.' });
    expect(refusalOf({ ...pdf, size: 1001 }, restrictions, 0)).to.deep.equal({ reason: 'size', message: 'Not sent: 1001 B is above the limit of 1000 B.' });
    expect(refusalOf({ name: 'a.exe', size: 10, type: '' }, restrictions, 0)).to.deep.equal({ reason: 'type', message: 'Not sent: this page takes only .pdf, image/* files.' });
    expect(pickerAccept(restrictions)).to.equal('.pdf,image/*');
    expect(pickerAccept({ accept: [['.pdf'], ['image/*']] })).to.equal('');
  });
});
