import { expect } from 'chai';
import { Connection } from '../../src/client/connection.js';
import { KiB } from '../../src/protocol/index.js';
import { sleep } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Makes the WebSocket under a connection report `unsent()` bytes not yet sent (engine.io keeps it protected). */
function pretendUnsent(connection: Connection, unsent: () => number): void {
  const { ws } = (connection.socket.io.engine as unknown as { transport: { ws: object } }).transport;
  Object.defineProperty(ws, 'bufferedAmount', { get: unsent, configurable: true });
}

describe('a frame waits for room in the socket\'s send queue (maxUnsent, the browser\'s default)', () => {
  let server: TestServer;
  const connections: Connection[] = [];
  const open = async (maxUnsent?: number) => {
    const connection = new Connection({ url: server.url, retries: 0, timeoutMs: 10_000, ...(maxUnsent === undefined ? {} : { maxUnsent }) });
    connections.push(connection);
    await connection.connected();
    return connection;
  };
  beforeEach(async () => {
    server = await startTestServer();
  });
  afterEach(async () => {
    for (const connection of connections.splice(0)) connection.close();
    await server.stop();
  });

  it('waits while the WebSocket holds more than maxUnsent unsent bytes, and goes on once it holds no more', async () => {
    const connection = await open(64 * KiB);
    let unsent = 64 * KiB + 1;
    pretendUnsent(connection, () => unsent);
    let roomGiven = false;
    const room = connection.roomToSend().then(() => (roomGiven = true));
    // It looks again on every packet from the server and every few ms: a request answered, and time for many looks.
    await connection.request('status', { md5: 'a'.repeat(32) }).catch(() => {});
    await sleep(50);
    expect(roomGiven).to.equal(false);
    unsent = 64 * KiB;
    await room;
    expect(roomGiven).to.equal(true);
  });

  it('gives up waiting when the upload is aborted', async () => {
    const connection = await open(64 * KiB);
    pretendUnsent(connection, () => 1024 * KiB);
    const controller = new AbortController();
    const room = connection.roomToSend(controller.signal).then(() => 'room', (err: { code: string }) => err.code);
    controller.abort();
    expect(await room).to.equal('E_ABORTED');
  });

  it('does not wait without maxUnsent (Node\'s default), nor on a socket that is not connected', async () => {
    const unbounded = await open();
    pretendUnsent(unbounded, () => 1024 * KiB);
    await unbounded.roomToSend();
    const bounded = await open(64 * KiB);
    pretendUnsent(bounded, () => 1024 * KiB);
    bounded.socket.disconnect(); // the frame will fail with E_DISCONNECTED: waiting would only delay that
    await bounded.roomToSend();
  });
});
