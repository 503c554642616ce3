import { expect } from 'chai';
import * as browserEntry from '../../src/client/browser.js';
import * as nodeEntry from '../../src/client/node.js';

// Compile-time: the browser and Node entries export the same names, in both directions.
// `sameNames` only type-checks as `true` when neither entry has a name the other lacks.
type Platform = 'BlobFileSource' | 'workerMd5' | 'IndexedDbHashCache' | 'NodeFileSource' | 'nodeMd5' | 'FileHashCache' | 'defaultHashCachePath';
type Extra<A, B> = Exclude<keyof A, keyof B | Platform>;
type SameNames<A, B> = [Extra<A, B> | Extra<B, A>] extends [never] ? true : false;
const sameNames: SameNames<typeof nodeEntry, typeof browserEntry> = true;

describe('client entries', () => {
  it('export the same names from Node and browser (beyond their platform pieces)', () => {
    expect(sameNames).to.equal(true);
    const platform = new Set(['BlobFileSource', 'workerMd5', 'IndexedDbHashCache', 'NodeFileSource', 'nodeMd5', 'FileHashCache', 'defaultHashCachePath']);
    const names = (m: object) => Object.keys(m).filter((k) => !platform.has(k)).sort();
    expect(names(browserEntry)).to.deep.equal(names(nodeEntry));
    expect(names(nodeEntry)).to.include.members(['createUploader', 'upload', 'Uploader', 'UpwireError']);
  });
});
