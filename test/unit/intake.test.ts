import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { GRANT_MS, Intake, READ_BYTES, type ConnectionIntake } from '../../src/server/socket/intake.js';
import { KiB, MiB } from '../../src/protocol/index.js';

/** ws's largest message as upwire configures it (MAX_FRAME_BYTES: a frame and room for its packet). */
const MESSAGE = MiB + 64 * KiB;
const FRAME = MiB;
const shared = new ArrayBuffer(FRAME);

/**
 * What the intake reads of a ws WebSocket (src/server/socket/ws-reading.ts): its Receiver's buffers, its
 * net.Socket's 'data' events, its 'message' events and pause()/resume(). `read` plays one socket
 * read of a stream of FRAME-byte messages as ws does: the bytes go into the Receiver, every whole
 * message is emitted, then the socket's 'data' listeners run.
 */
class FakeWebSocket extends EventEmitter {
  readonly _socket = Object.assign(new EventEmitter(), { readableLength: 0 });
  readonly _receiver = { _bufferedBytes: 0, _fragments: [] as Uint8Array[], _maxPayload: MESSAGE, writableLength: 0 };
  paused = false;

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  read(bytes: number): void {
    this._receiver._bufferedBytes += bytes;
    while (this._receiver._bufferedBytes >= FRAME) {
      this._receiver._bufferedBytes -= FRAME;
      this.emit('message', new Uint8Array(shared, 0, FRAME));
    }
    this._socket.emit('data');
  }
}

interface Client { ws: FakeWebSocket; connection: ConnectionIntake; left: number; admitted: number }

/**
 * A crowd of connections, each sending `frames` frames as fast as it is read (64 KiB a read, round
 * robin), against an intake of `total` bytes; the "handler" admits each message on the next tick,
 * as socket.io does, and `writesPerTurn` admitted frames are written (released) per turn. Every
 * loop is bounded; the result says what the intake held at most and how the turns went.
 */
async function crowd(options: { connections: number; frames: number; total: number; writesPerTurn: number }) {
  const intake = new Intake({ total: options.total, perConnection: 17 * MiB });
  const writes: (() => void)[] = [];
  let refused = 0;
  let admitted = 0;
  const clients: Client[] = Array.from({ length: options.connections }, () => {
    const ws = new FakeWebSocket();
    const client = { ws, left: options.frames * FRAME, admitted: 0 } as Client;
    // the handler's listener is engine.io's, which comes before the intake's
    ws.on('message', (data: Uint8Array) => process.nextTick(() => {
      try {
        writes.push(client.connection.admit(data.byteLength));
        client.admitted++;
        admitted++;
      } catch {
        refused++;
      }
    }));
    client.connection = intake.connection({ websocket: () => ws, onUpgrade: () => {} });
    return client;
  });
  const all = options.connections * options.frames;
  let fewestAtHalf: number | undefined;
  let maxWaiting = 0;
  for (let turn = 0; turn < 100_000 && (admitted < all || writes.length > 0); turn++) {
    for (const client of clients) {
      if (client.ws.paused || client.left === 0) continue;
      const bytes = Math.min(READ_BYTES, client.left);
      client.left -= bytes;
      client.ws.read(bytes);
    }
    await nextTurn(); // the next ticks ran: every whole message is admitted
    maxWaiting = Math.max(maxWaiting, intake.waiting);
    if (fewestAtHalf === undefined && admitted >= all / 2) fewestAtHalf = Math.min(...clients.map((c) => c.admitted));
    for (let i = 0; i < options.writesPerTurn && writes.length > 0; i++) writes.shift()!();
  }
  await nextTurn();
  return { intake, admitted, refused, all, fewestAtHalf: fewestAtHalf ?? 0, maxWaiting };
}

describe('Intake: reading rationed under a total', () => {
  it('a crowd far beyond the total: every frame read once and admitted, the total kept but for one read per waiting connection, turns in order', async () => {
    const connections = 20;
    const total = 8 * MiB;
    const result = await crowd({ connections, frames: 8, total, writesPerTurn: 2 });
    const { intake } = result;
    expect(result.admitted).to.equal(result.all);
    expect(result.refused, 'no frame read and then thrown away').to.equal(0);
    // without the rationing, 20 connections would each hold a message in progress: 20 MiB
    expect(intake.peak).to.be.at.most(total + result.maxWaiting * READ_BYTES);
    expect(intake.pauses).to.be.at.least(connections);
    // first paused, first read again: halfway through, every connection has had a share
    expect(result.fewestAtHalf).to.be.at.least(2);
    expect([intake.held, intake.admitted, intake.buffered, intake.decoded, intake.reserved, intake.pausedNow, intake.waiting]).to.deep.equal([0, 0, 0, 0, 0, 0, 0]);
  });

  it('a total smaller than one message still lets frames through, one at a time', async () => {
    const result = await crowd({ connections: 3, frames: 3, total: MiB / 2, writesPerTurn: 1 });
    expect(result.admitted).to.equal(result.all);
    expect(result.refused).to.equal(0);
    // what the waiting connections hold, and one message let through
    expect(result.intake.peak).to.be.at.most(3 * READ_BYTES + MESSAGE + READ_BYTES);
    expect(result.intake.held).to.equal(0);
  });

  it('a connection that cannot be paused (no WebSocket) has its frames refused with E_BUSY at the total', () => {
    const intake = new Intake({ total: 3 * MiB, perConnection: 17 * MiB });
    const polling = intake.connection({ websocket: () => undefined, onUpgrade: () => {} });
    const releases = [polling.admit(FRAME), polling.admit(FRAME), polling.admit(FRAME)];
    expect(() => polling.admit(FRAME)).to.throw().with.property('code', 'E_BUSY');
    expect(intake.refused).to.equal(1);
    releases[0]!();
    releases[0]!(); // twice is harmless
    expect(intake.held).to.equal(2 * FRAME);
    polling.admit(FRAME);
  });

  it('a connection upgraded from polling to a WebSocket is read under the rationing from then on', () => {
    const intake = new Intake({ total: 2 * MiB, perConnection: 17 * MiB });
    const transport = new FakeWebSocket();
    let upgraded = false;
    let upgrade = () => {};
    const connection = intake.connection({ websocket: () => (upgraded ? transport : undefined), onUpgrade: (listener) => (upgrade = listener) });
    transport.read(READ_BYTES); // polling: not read through this WebSocket yet
    expect(intake.buffered).to.equal(0);
    upgraded = true;
    upgrade();
    transport._receiver._bufferedBytes = 0;
    transport.read(READ_BYTES);
    expect(intake.buffered).to.equal(READ_BYTES);
    expect(intake.reserved).to.equal(MESSAGE + READ_BYTES - READ_BYTES);
    connection.close();
    expect([intake.buffered, intake.reserved]).to.deep.equal([0, 0]);
    transport.read(READ_BYTES); // no longer counted
    expect(intake.buffered).to.equal(0);
  });

  it('a connection over its own limit is paused until half of it is written', () => {
    const intake = new Intake({ total: 64 * MiB, perConnection: 4 * MiB });
    const ws = new FakeWebSocket();
    const connection = intake.connection({ websocket: () => ws, onUpgrade: () => {} });
    const releases = Array.from({ length: 5 }, () => connection.admit(FRAME));
    expect(ws.paused).to.equal(true);
    expect(intake.pausedNow).to.equal(1);
    releases[0]!();
    releases[1]!();
    expect(ws.paused, '3 MiB held: above half of 4 MiB').to.equal(true);
    releases[2]!();
    expect(ws.paused).to.equal(false);
    expect(intake.pausedNow).to.equal(0);
  });

  it('a grant lasts GRANT_MS while others wait: a sender that trickles mid-message keeps its bytes, not the room, and its turn comes again', async () => {
    let now = 0;
    const intake = new Intake({ total: 2 * MiB, perConnection: 17 * MiB }, () => now);
    const trickling = new FakeWebSocket();
    const other = new FakeWebSocket();
    intake.connection({ websocket: () => trickling, onUpgrade: () => {} });
    intake.connection({ websocket: () => other, onUpgrade: () => {} });
    trickling.read(8 * READ_BYTES); // half a frame
    other.read(READ_BYTES);
    expect([trickling.paused, other.paused]).to.deep.equal([false, true]);
    now += GRANT_MS - 1;
    trickling.read(READ_BYTES); // a little more, slowly
    intake.sweep();
    expect([trickling.paused, other.paused], 'its grant is not that old yet').to.deep.equal([false, true]);
    now += 1;
    intake.sweep();
    expect([trickling.paused, other.paused]).to.deep.equal([true, false]);
    expect(intake.held).to.equal(10 * READ_BYTES);
    // the other's frame arrives, is decoded (and not admitted: garbage at the next turn): the trickling one is read again
    for (let i = 1; i < 16; i++) other.read(READ_BYTES);
    await nextTurn();
    expect(intake.held).to.equal(9 * READ_BYTES);
    expect(trickling.paused).to.equal(false);
  });

  it('no sweep while nobody waits: a grant may last', () => {
    let now = 0;
    const intake = new Intake({ total: 8 * MiB, perConnection: 17 * MiB }, () => now);
    const slow = new FakeWebSocket();
    intake.connection({ websocket: () => slow, onUpgrade: () => {} });
    slow.read(READ_BYTES);
    now += 10 * GRANT_MS;
    intake.sweep();
    expect(slow.paused).to.equal(false);
  });
});
