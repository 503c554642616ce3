import { expect } from 'chai';
import type { Locker } from '../../src/server/lock/types.js';
import { sleep } from '../support/fixtures.js';

/** What every Locker must do; each implementation runs this suite. */
export function lockerContract(name: string, create: () => Promise<{ locker: Locker; cleanup(): Promise<void> }>): void {
  describe(`Locker contract: ${name}`, () => {
    let locker: Locker;
    let cleanup: () => Promise<void>;
    beforeEach(async () => ({ locker, cleanup } = await create()));
    afterEach(async () => {
      await locker.close();
      await cleanup();
    });

    it('excludes: the second holder of a key waits for the first to release', async () => {
      const first = await locker.acquire('k');
      let second = false;
      const waiting = locker.acquire('k').then((lock) => ((second = true), lock));
      await sleep(50);
      expect(second).to.equal(false);
      await first.release();
      const lock = await waiting;
      expect(second).to.equal(true);
      expect(lock.token).to.be.greaterThan(first.token); // fencing: later grants carry larger tokens
      await lock.release();
    });

    it('lets different keys run at once', async () => {
      const a = await locker.acquire('a');
      const b = await Promise.race([locker.acquire('b'), sleep(1000).then(() => undefined)]);
      expect(b, 'the lock on another key was granted').to.not.equal(undefined);
      await a.release();
      await b!.release();
    });

    it('grants in order of asking', async () => {
      const first = await locker.acquire('k');
      const order: number[] = [];
      const waits = [1, 2, 3].map(async (n) => {
        await sleep(n * 10);
        const lock = await locker.acquire('k');
        order.push(n);
        await lock.release();
      });
      await sleep(100);
      await first.release();
      await Promise.all(waits);
      expect(order).to.deep.equal([1, 2, 3]);
    });

    it('gives up waiting when the signal aborts, and the lock stays usable', async () => {
      const held = await locker.acquire('k');
      const controller = new AbortController();
      const waiting = locker.acquire('k', controller.signal).then(() => 'granted', () => 'aborted');
      controller.abort();
      expect(await waiting).to.equal('aborted');
      await held.release();
      const again = await locker.acquire('k');
      await again.release();
    });

    it('releases once however often release is called', async () => {
      const lock = await locker.acquire('k');
      await lock.release();
      await lock.release();
      const other = await locker.acquire('k');
      const third = locker.acquire('k');
      await lock.release(); // a stale release must not free the lock another holder has
      expect(await Promise.race([third.then(() => 'granted'), sleep(100).then(() => 'waiting')])).to.equal('waiting');
      await other.release();
      await (await third).release();
    });

    it('keeps the order of the others when a waiter in the middle gives up', async () => {
      const first = await locker.acquire('k');
      const order: number[] = [];
      const controller = new AbortController();
      const waits = [1, 2, 3].map(async (n) => {
        await sleep(n * 10);
        const lock = await locker.acquire('k', n === 2 ? controller.signal : undefined).catch(() => undefined);
        if (!lock) return;
        order.push(n);
        await lock.release();
      });
      await sleep(100);
      controller.abort();
      await first.release();
      await Promise.all(waits);
      expect(order).to.deep.equal([1, 3]);
    });

    it('never lets two holders in at once under contention, with growing tokens', async () => {
      let inside = 0;
      let most = 0;
      const tokens: number[] = [];
      await Promise.all([1, 2, 3, 4, 5, 6].map(async () => {
        for (let round = 0; round < 3; round++) {
          const lock = await locker.acquire('k');
          most = Math.max(most, ++inside);
          tokens.push(lock.token);
          expect(lock.signal.aborted).to.equal(false);
          await sleep(2);
          inside--;
          await lock.release();
        }
      }));
      expect(most).to.equal(1);
      expect(tokens).to.deep.equal([...tokens].sort((x, y) => x - y));
    });
  });
}
