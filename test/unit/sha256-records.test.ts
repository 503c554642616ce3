import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { MAX_PENDING_SHA256, MAX_SHA256_DELAY_MS, Sha256Records } from '../../src/server/hashing/sha256-records.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('Sha256Records (SHA256=background)', () => {
  it('records each queued file\'s SHA-256 from the stored bytes, in the order queued', async () => {
    const recorded: [string, string][] = [];
    const records = new Sha256Records({
      bytes: { readStored: (md5) => Readable.from([Buffer.from(`content of ${md5}`)]) },
      record: async (md5, digest) => void recorded.push([md5, digest]),
    });
    expect(records.add('a', 12)).to.equal(true);
    expect(records.add('b', 12)).to.equal(true);
    expect(records.add('empty', 0)).to.equal(true);
    await records.idle();
    expect(recorded).to.deep.equal([['a', sha256('content of a')], ['b', sha256('content of b')], ['empty', sha256('')]]);
  });

  it('holds at most MAX_PENDING_SHA256 files; a stop drops the queue and abandons the read under way', async () => {
    const reads: Readable[] = [];
    const recorded: string[] = [];
    const failures: string[] = [];
    const records = new Sha256Records({
      // A store that never delivers: the first file's pass waits while the queue fills.
      bytes: { readStored: () => reads[reads.push(new Readable({ read() {} })) - 1]! },
      record: async (md5) => void recorded.push(md5),
      failed: (_err, what) => failures.push(what),
    });
    expect(records.add('first', 1)).to.equal(true);
    let accepted = 0;
    for (let i = 0; i < MAX_PENDING_SHA256 + 10; i++) if (records.add(`queued-${i}`, 1)) accepted++;
    expect(accepted).to.equal(MAX_PENDING_SHA256);
    await new Promise((resolve) => setImmediate(resolve)); // the first file's read begins
    await records.close();
    expect(reads).to.have.length(1);
    expect(reads[0]!.destroyed).to.equal(true);
    expect(recorded).to.deep.equal([]);
    expect(failures).to.deep.equal([]);
    expect(records.add('after-close', 1)).to.equal(false);
  });

  it('waits while uploads receive bytes, and starts once they stop', async () => {
    let busy = true;
    const recorded: string[] = [];
    const records = new Sha256Records({
      bytes: { readStored: (md5) => Readable.from([Buffer.from(md5)]) },
      record: async (md5) => void recorded.push(md5),
      busy: () => busy,
    });
    records.add('a', 1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(recorded, 'nothing hashed while busy').to.deep.equal([]);
    busy = false;
    await records.idle();
    expect(recorded).to.deep.equal(['a']);
  });

  it('does not wait longer than MAX_SHA256_DELAY_MS for quiet', async () => {
    const recorded: string[] = [];
    const records = new Sha256Records({
      bytes: { readStored: (md5) => Readable.from([Buffer.from(md5)]) },
      record: async (md5) => void recorded.push(md5),
      busy: () => true,
    });
    const realNow = Date.now;
    const start = realNow();
    records.add('waited', 1);
    Date.now = () => start + MAX_SHA256_DELAY_MS; // as if the minute had passed
    try {
      await records.idle();
    } finally {
      Date.now = realNow;
    }
    expect(recorded).to.deep.equal(['waited']);
  });

  it('reports a failed pass and goes on with the next file', async () => {
    const recorded: string[] = [];
    const failures: string[] = [];
    const records = new Sha256Records({
      bytes: {
        readStored: (md5) => md5 === 'gone'
          ? new Readable({ read() { this.destroy(new Error('ENOENT')); } })
          : Readable.from([Buffer.from(md5)]),
      },
      record: async (md5) => void recorded.push(md5),
      failed: (_err, what) => failures.push(what),
    });
    records.add('gone', 5);
    records.add('kept', 4);
    await records.idle();
    expect(failures).to.deep.equal(['the SHA-256 of gone']);
    expect(recorded).to.deep.equal(['kept']);
  });
});
