import { expect } from 'chai';
import { FlowControl, type Credit, type FlowOptions } from '../../src/client/flow.js';
import { KiB, MAX_FRAME_SIZE, MiB, MIN_FRAME_SIZE } from '../../src/protocol/index.js';

/**
 * The flow control against a simulated link: a FIFO of frames crossing at `rate` bytes a second,
 * each answered when its last byte has crossed (plus `baseMs`). Time is simulated, so the numbers
 * are exact and the test is quick.
 */
function simulate(rate: number, seconds: number, options: { baseMs?: number; rateAt?: (t: number) => number; flow?: Partial<FlowOptions> } = {}) {
  let now = 0;
  const flow = new FlowControl(options.flow ?? {}, () => now);
  let largestFrame = 0;
  const queueDelays: number[] = [];
  const windows: number[] = [];
  let linkFreeAt = 0;
  const answers: { at: number; credit: Credit }[] = [];
  let delivered = 0;
  const step = 5; // ms
  while (now < seconds * 1000) {
    // send whatever the window allows
    for (let credit = flow.tryAcquire(); credit; credit = flow.tryAcquire()) {
      flow.sent(credit, credit.bytes);
      largestFrame = Math.max(largestFrame, credit.bytes);
      const r = options.rateAt?.(now) ?? rate;
      const start = Math.max(now, linkFreeAt);
      linkFreeAt = start + (credit.bytes / r) * 1000;
      queueDelays.push(start - now);
      answers.push({ at: linkFreeAt + (options.baseMs ?? 2), credit });
    }
    now += step;
    while (answers.length > 0 && answers[0]!.at <= now) {
      const { credit } = answers.shift()!;
      delivered += credit.bytes;
      flow.answered(credit);
    }
    windows.push(flow.window);
  }
  return { flow, queueDelays, windows, delivered, largestFrame };
}

describe('FlowControl', () => {
  it('keeps a slow link busy with about 0.75 s of data queued, never more than about 2 s', async () => {
    for (const rate of [64 * KiB, 256 * KiB]) {
      const { delivered, queueDelays } = simulate(rate, 60);
      // busy: at least 97% of what the link could carry in 60 s
      expect(delivered / (rate * 60), `${rate} B/s`).to.be.at.least(0.97);
      const settled = queueDelays.slice(Math.floor(queueDelays.length / 4));
      expect(Math.max(...settled), `${rate} B/s`).to.be.below(1200);
      expect(Math.max(...queueDelays), `${rate} B/s`).to.be.below(2000);
    }
  });

  it('grows to the maximum on a fast link within a few round trips, with the largest frames', () => {
    const { flow, windows } = simulate(1024 * MiB, 1, { baseMs: 1 });
    expect(flow.window).to.equal(16 * MiB);
    expect(windows.findIndex((w) => w === 16 * MiB)).to.be.below(20); // 20 steps of 5 ms
    expect(flow.frameSize()).to.equal(MAX_FRAME_SIZE);
  });

  it('keeps frames within maxFrameSize (the browser asks for 512 KiB), the window as large', () => {
    const { flow, largestFrame } = simulate(1024 * MiB, 1, { baseMs: 1, flow: { maxFrameSize: 512 * KiB } });
    expect(flow.window).to.equal(16 * MiB);
    expect(flow.frameSize()).to.equal(512 * KiB);
    expect(largestFrame).to.equal(512 * KiB);
  });

  it('refuses a maxFrameSize outside the protocol\'s frame bounds', () => {
    for (const maxFrameSize of [MIN_FRAME_SIZE - 1, MAX_FRAME_SIZE + 1, 100 * KiB + 0.5, NaN]) {
      expect(() => new FlowControl({ maxFrameSize }), String(maxFrameSize)).to.throw(RangeError, /maxFrameSize/);
    }
    expect(new FlowControl({ maxFrameSize: MIN_FRAME_SIZE }).frameSize()).to.equal(MIN_FRAME_SIZE);
  });

  it('shrinks when the link slows down, and grows again', () => {
    const rateAt = (t: number) => (t < 20_000 ? 1 * MiB : t < 40_000 ? 64 * KiB : 1 * MiB);
    const { windows } = simulate(0, 60, { rateAt });
    const at = (s: number) => windows[Math.floor((s * 1000) / 5) - 1]!;
    expect(at(19)).to.be.within(0.5 * MiB, 1.2 * MiB);
    expect(at(39)).to.be.below(100 * KiB);
    expect(at(59)).to.be.within(0.5 * MiB, 1.2 * MiB);
  });

  it('shares the window first come, first served, and never hands out less than a small frame', async () => {
    const flow = new FlowControl({ maxInFlight: 2 * MIN_FRAME_SIZE });
    const first = await flow.acquire();
    flow.sent(first, first.bytes);
    const order: string[] = [];
    const a = flow.acquire().then((c) => (order.push('a'), c));
    const b = flow.acquire().then((c) => (order.push('b'), c));
    flow.answered(first);
    const ca = await a;
    expect(ca.bytes).to.be.at.least(MIN_FRAME_SIZE);
    flow.sent(ca, ca.bytes);
    flow.answered(ca);
    await b;
    expect(order).to.deep.equal(['a', 'b']);
  });

  it('gives back the room of a frame that is never answered', async () => {
    const flow = new FlowControl({ maxInFlight: 2 * MIN_FRAME_SIZE });
    const credit = await flow.acquire();
    flow.sent(credit, credit.bytes);
    flow.cancel(credit);
    flow.cancel(credit); // twice is harmless
    expect(flow.inFlight).to.equal(0);
  });

  it('rejects a wait that is aborted', async () => {
    const flow = new FlowControl({ maxInFlight: MIN_FRAME_SIZE * 2 });
    const held = await flow.acquire();
    flow.sent(held, held.bytes);
    const more = await flow.acquire();
    flow.sent(more, more.bytes);
    const controller = new AbortController();
    const waiting = flow.acquire(controller.signal).then(() => 'granted', (err: { code: string }) => err.code);
    controller.abort();
    expect(await waiting).to.equal('E_ABORTED');
  });
});
