/*
 * A protocol-legal client that keeps a FIXED window of frames in flight whatever the server's pace
 * (upwire's own client sizes its window to the measured link): one connection, frames of 1 MiB, at
 * most `window` unanswered. A frame refused with E_BUSY is sent again after the retryAfterMs it
 * names, with the frames of its chunk that followed it (the server takes a chunk's frames in order
 * only). For the crowd test and the benchmark's fixed-window crowd.
 */
import { io } from 'socket.io-client';
import { MAX_FRAME_SIZE, PROTOCOL_VERSION, UPLOAD_NAMESPACE, type Result } from '../../src/protocol/index.js';

export const FRAMES_PER_CHUNK = 4;
const CHUNK = FRAMES_PER_CHUNK * MAX_FRAME_SIZE;

export interface FixedWindowFile {
  md5: string;
  size: number;
  name: string;
  /** `length` bytes of the file from `position`. */
  read(position: number, length: number): Promise<Uint8Array>;
}

export interface FixedWindowCounts {
  /** Answers E_BUSY: frames the server received and refused. */
  busy: number;
  /** Frames sent again (refused, or behind one refused in their chunk). */
  resent: number;
}

interface Frame { index: number; offset: number; length: number; state: 'todo' | 'sent' | 'done' }
interface ChunkState { frames: Frame[]; outstanding: number; failedAt?: number; waitMs: number; blocked: boolean }

type Answer = Result<Record<string, unknown>>;

/** Uploads `file` (init, frames, merge) over a connection of its own; fails on any answer but E_BUSY. */
export async function fixedWindowUpload(url: string, file: FixedWindowFile, window: number, counts: FixedWindowCounts, timeoutMs = 120_000): Promise<void> {
  const socket = io(`${url}${UPLOAD_NAMESPACE}`, { transports: ['websocket'], auth: { protocol: PROTOCOL_VERSION }, reconnection: false, forceNew: true });
  const request = (event: string, payload: unknown) => socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<Answer>;
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    const init = await request('init', { md5: file.md5, size: file.size, name: file.name, chunkSize: CHUNK });
    if (!init.ok || init.status !== 'partial') throw new Error(`init: ${JSON.stringify(init).slice(0, 200)}`);
    await sendFrames(request, file, window, counts);
    const merged = await request('merge', { md5: file.md5 });
    if (!merged.ok || merged.status !== 'complete') throw new Error(`merge: ${JSON.stringify(merged).slice(0, 200)}`);
  } finally {
    socket.disconnect();
  }
}

/** Every frame of the file, at most `window` unanswered; resolves once every chunk is stored. */
function sendFrames(request: (event: string, payload: unknown) => Promise<Answer>, file: FixedWindowFile, window: number, counts: FixedWindowCounts): Promise<void> {
  const total = Math.ceil(file.size / CHUNK);
  const chunks: ChunkState[] = Array.from({ length: total }, (_, index) => {
    const length = Math.min(CHUNK, file.size - index * CHUNK);
    const frames: Frame[] = [];
    for (let offset = 0; offset < length; offset += MAX_FRAME_SIZE) frames.push({ index, offset, length: Math.min(MAX_FRAME_SIZE, length - offset), state: 'todo' });
    return { frames, outstanding: 0, waitMs: 0, blocked: false };
  });
  let inFlight = 0;
  let stored = 0;
  return new Promise((resolve, reject) => {
    // In a chunk not waiting to send again, the frames not sent yet follow those sent: the first is next.
    const nextFrame = (): Frame | undefined => {
      for (const chunk of chunks) {
        const frame = chunk.blocked ? undefined : chunk.frames.find((f) => f.state === 'todo');
        if (frame) return frame;
      }
      return undefined;
    };
    // Reads may complete in any order; frames are emitted in the order they were sent (a chunk's
    // frames must arrive in order).
    let turn: Promise<unknown> = Promise.resolve();
    const send = async (frame: Frame): Promise<Answer> => {
      const read = file.read(frame.index * CHUNK + frame.offset, frame.length);
      // settles once this frame is emitted (the answer wrapped, so that it is not waited for)
      const emitted = turn.then(async () => ({ answer: request('chunk', { md5: file.md5, index: frame.index, total, offset: frame.offset, data: await read }) }));
      turn = emitted.catch(() => {});
      return (await emitted).answer;
    };
    const pump = (): void => {
      while (inFlight < window) {
        const frame = nextFrame();
        if (!frame) return;
        frame.state = 'sent';
        inFlight++;
        const chunk = chunks[frame.index]!;
        chunk.outstanding++;
        send(frame).then((answer) => settle(chunk, frame, answer)).catch(reject);
      }
    };
    const settle = (chunk: ChunkState, frame: Frame, answer: Answer): void => {
      inFlight--;
      chunk.outstanding--;
      if (answer.ok && answer.accepted === true) {
        frame.state = 'done';
        if (answer.stored === true) stored++;
      } else if (answer.ok || answer.error.code === 'E_BUSY') {
        // refused, or not accepted because a frame before it in its chunk was refused
        if (!answer.ok) {
          counts.busy++;
          chunk.waitMs = Math.max(chunk.waitMs, Number(answer.error.retryAfterMs ?? 1000));
        }
        chunk.failedAt = Math.min(chunk.failedAt ?? Infinity, frame.offset);
        chunk.blocked = true;
      } else {
        throw new Error(`chunk: ${answer.error.code} ${answer.error.message}`);
      }
      if (chunk.blocked && chunk.outstanding === 0) {
        // every frame of the chunk has answered: send again from the first one refused, after the wait
        const from = chunk.failedAt!;
        setTimeout(() => {
          for (const f of chunk.frames) {
            if (f.offset < from || f.state === 'todo') continue;
            f.state = 'todo';
            counts.resent++;
          }
          chunk.failedAt = undefined;
          chunk.waitMs = 0;
          chunk.blocked = false;
          pump();
        }, chunk.waitMs);
      }
      if (stored === total) resolve();
      else pump();
    };
    if (total === 0) resolve();
    else pump();
  });
}
