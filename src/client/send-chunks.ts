import { chunkLength, indicesOf, parseChunkAck, UpwireError, type ChunkAck, type PartialStatus } from '../protocol/index.js';
import { untilAborted } from './abortable.js';
import type { Connection } from './connection.js';
import type { FileSource } from './core.js';

export interface SendHooks {
  signal: AbortSignal;
  /** Resolves when sending may go on (the upload is not paused). */
  unpaused(): Promise<void> | undefined;
  /** A frame of `bytes` was handed to the connection; `lastOfChunk` when it completes its chunk's bytes. */
  sent(bytes: number, lastOfChunk: boolean): void;
  /** The server answered a frame of `bytes`. */
  answered(ack: ChunkAck, bytes: number): void;
}

/**
 * Sends the missing chunks of `status`, in order, as frames of the size the connection's flow control
 * gives (see flow.ts): each frame waits for room in the window, is read into a pooled buffer and
 * sent without waiting for its answer. Resolves once every frame sent has been answered; the first
 * failure stops the sending, and is thrown once the frames in flight are answered or dropped.
 * A chunk whose frame was not accepted (another connection started it over) is left for the
 * merge to report missing. Every ack is checked (protocol/answers.ts): one that does not echo its
 * frame or counts another file's chunks fails the upload with E_BAD_ANSWER. `status` is checked
 * already, so the loops below are bounded by its chunk count and each chunk's length.
 */
export async function sendChunks(connection: Connection, source: FileSource, status: PartialStatus, hooks: SendHooks): Promise<void> {
  const { md5, size, chunkSize, total, missing } = status;
  const answers = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const refused = new Set<number>(); // chunks a frame of which was not accepted: their other frames would not be either
  for (const index of indicesOf(missing)) {
    const length = chunkLength(size, chunkSize, index);
    for (let offset = 0; offset < length && !failure && !refused.has(index);) {
      await hooks.unpaused();
      if (hooks.signal.aborted) throw new UpwireError('E_ABORTED');
      const credit = await connection.flow.acquire(hooks.signal);
      try {
        await connection.roomToSend(hooks.signal);
      } catch (err) {
        connection.flow.cancel(credit);
        throw err;
      }
      if (failure || refused.has(index)) {
        connection.flow.cancel(credit);
        break;
      }
      const bytes = Math.min(credit.bytes, length - offset);
      const buffer = connection.buffers.take(bytes);
      let data: Uint8Array;
      try {
        data = await source.read(index * chunkSize + offset, bytes, buffer);
      } catch (err) {
        connection.flow.cancel(credit);
        throw err;
      }
      const frame = { index, offset, total };
      const answer = connection.frame({ md5, ...frame, data }, credit).then((raw) => parseChunkAck(raw, frame)).then(
        (ack) => {
          connection.buffers.give(data); // answered: the bytes have left every queue (`data` holds `buffer`'s memory, see FileSource.read)
          if (!ack.accepted && !ack.stored) refused.add(index);
          hooks.answered(ack, bytes);
        },
        (error: unknown) => {
          failure ??= { error };
        },
      );
      answers.add(answer);
      void answer.then(() => answers.delete(answer));
      offset += bytes;
      hooks.sent(bytes, offset === length);
    }
    if (failure) break;
  }
  // An abort does not wait for answers (a server may sit on them until the timeout).
  await untilAborted(Promise.all(answers), hooks.signal);
  if (failure) throw failure.error;
}
