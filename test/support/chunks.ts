import { expect } from 'chai';
import { chunkCount, type Range } from '../../src/protocol/index.js';
import { connect, ok, request, type RawSocket } from './server.js';

/**
 * Sends every chunk of `data` over a raw socket, `lanes` requests in flight, recording each
 * acknowledged index. A lane stops when the connection dies (the tests kill the server on purpose).
 */
export async function sendChunks(socket: RawSocket, md5: string, data: Buffer, chunkSize: number, acked: Set<number>, lanes = 4): Promise<void> {
  const total = chunkCount(data.length, chunkSize);
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const index = next++;
      const chunk = data.subarray(index * chunkSize, (index + 1) * chunkSize);
      const result = await request(socket, 'chunk', { md5, index, total, data: chunk }, 5000).catch(() => undefined);
      if (!result) return;
      if (result.ok) acked.add(index);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}

/** Fails when a chunk the server acknowledged is among the missing ones. */
export function expectAckedKept(missing: Range[], acked: Set<number>): void {
  for (const [start, end] of missing) {
    for (let i = start; i < end; i++) expect(acked.has(i), `acknowledged chunk ${i} was lost`).to.equal(false);
  }
}

/** The status of an md5, asked over a connection of its own. */
export async function statusOf(url: string, md5: string) {
  const socket = await connect(url);
  try {
    return await ok(socket, 'status', { md5 });
  } finally {
    socket.disconnect();
  }
}
