import { expect } from 'chai';
import type { Namespace } from 'socket.io';
import type { UploadSnapshot } from '../../src/protocol/index.js';
import { WatcherHub } from '../../src/server/socket/watch-hub.js';

/** A namespace that records what would be broadcast. */
function recordingNamespace() {
  const sent: { event: string; payload: unknown }[] = [];
  const room = { to: () => room, emit: (event: string, payload: unknown) => sent.push({ event, payload }) };
  return { sent, nsp: { to: () => room } as unknown as Namespace };
}

const snapshot = (bytes: number, received: number): UploadSnapshot => ({ id: 'a'.repeat(32), md5: 'a'.repeat(32), name: 'x', size: 300, total: 3, received, bytes, rate: 0, clients: [] });

describe('WatcherHub', () => {
  it('sends the final state when a chunk is recorded after its bytes were counted (same bytes, more chunks)', () => {
    const { sent, nsp } = recordingNamespace();
    const hub = new WatcherHub(nsp);
    hub.progress(snapshot(300, 2)); // the last chunk's bytes are written, its index not yet recorded
    hub.progress(snapshot(300, 3)); // recorded: the same bytes, one more chunk
    hub.complete({ md5: 'a'.repeat(32), size: 300, name: 'x', type: 'x/y', url: '/files/x' }, 'a'.repeat(32));
    hub.close();
    const progress = sent.filter((s) => s.event === 'progress').map((s) => (s.payload as UploadSnapshot).received);
    expect(progress.at(-1)).to.equal(3);
    expect(sent.at(-1)!.event).to.equal('complete');
  });

  it('sends a state that did not advance only once', () => {
    const { sent, nsp } = recordingNamespace();
    const hub = new WatcherHub(nsp);
    hub.progress(snapshot(100, 1));
    hub.progress(snapshot(100, 1));
    hub.close();
    expect(sent).to.have.length(1);
  });
});
