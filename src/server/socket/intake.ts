import { KiB, UpwireError } from '../../protocol/index.js';
import { readWebSocket } from './ws-reading.js';

/**
 * A connection's transport as the intake reads it: the `ws` WebSocket under engine.io when the
 * connection has one (a polling transport has none: it cannot be paused), and word of an upgrade
 * to one.
 */
export interface Pausable {
  websocket(): unknown;
  onUpgrade(listener: () => void): void;
}

/** A socket whose reading can be stopped, so TCP flow control pushes back on its sender. */
export interface Reader {
  pause(): void;
  resume(): void;
}

export interface IntakeLimits {
  /** Frame bytes one connection may have admitted (received, not yet written) before its socket stops being read. */
  perConnection: number;
  /** Frame bytes in memory across all connections, read but not yet admitted as well as admitted and not yet written. */
  total: number;
}

/**
 * One socket read: Node reads a socket into 64 KiB buffers, so a connection told to stop has taken
 * in at most this much more, and the read that completes a message may carry the start of the next.
 */
export const READ_BYTES = 64 * KiB;
/**
 * While others wait, a grant lasts this long: then the connection keeps what it has read and waits
 * its turn again, so a sender that stalls or trickles mid-message cannot keep room from the others.
 */
export const GRANT_MS = 2000;
/** What E_BUSY asks a client to wait; it adds jitter. */
const BUSY_RETRY_MS = 1000;

/**
 * Bounds the frame bytes the server holds in memory, in total: those a WebSocket has read of a
 * message still arriving or decoded and not yet admitted, and those admitted and not yet written.
 *
 * Reading is what is rationed. A connection that starts a message (ws has bytes of it) goes on
 * reading only with a grant: room for the whole message it may still receive (ws's maxPayload,
 * less what it has, plus one read). Without room, or while others wait, its socket is paused
 * (TCP pushes back; the kernel holds the rest) and it queues; grants go in queue order as frames
 * are written, and while others wait a grant lasts GRANT_MS. A frame is therefore assembled only
 * when it fits, and not thrown away for want of room: admission does not refuse a WebSocket's.
 *
 * What may exceed the total: a connection that starts a message while the room is taken has read
 * one read of it (64 KiB) before it is paused; a paused socket may buffer 16 KiB and one read more
 * (Node stops reading it there), not counted here. When not even one message fits (a total below
 * what the waiting connections hold plus one message), the first in the queue is let through
 * once nothing else is granted, admitted or decoded, so the server cannot stall: one message more.
 * A connection left waiting longer than the heartbeat (25 + 30 s: frames cannot be written that
 * fast) is dropped by it, which frees what it held; its client resumes.
 * A connection without a WebSocket (polling, which cannot be paused) holds one HTTP request
 * body at most (maxHttpBufferSize) before admission; its frames are refused with E_BUSY at the total.
 */
export class Intake {
  /** Bytes of admitted frames not yet written. */
  admitted = 0;
  /** Bytes ws holds of messages still arriving, and of messages decoded and not yet admitted. */
  buffered = 0;
  decoded = 0;
  /** Room promised to granted connections for the rest of their message. */
  reserved = 0;
  /** The most ever held at once, connections ever paused, and frames refused with E_BUSY: for /metrics. */
  peak = 0;
  pauses = 0;
  refused = 0;
  /** Connections waiting for room, in order (a Set keeps insertion order). */
  readonly #queue = new Set<ConnectionIntake>();
  readonly #granted = new Set<ConnectionIntake>();
  #pausedNow = 0;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(
    readonly limits: IntakeLimits,
    /** The clock for GRANT_MS (tests give their own). */
    readonly now: () => number = Date.now,
  ) {}

  connection(transport: Pausable): ConnectionIntake {
    const connection = new ConnectionIntake(this);
    const attach = () => connection.attach(transport.websocket());
    attach();
    transport.onUpgrade(attach);
    return connection;
  }

  /** Frame bytes in memory now: read and not yet admitted, or admitted and not yet written. */
  get held(): number {
    return this.admitted + this.buffered + this.decoded;
  }

  get pausedNow(): number {
    return this.#pausedNow;
  }

  /** Connections waiting for room now. */
  get waiting(): number {
    return this.#queue.size;
  }

  /** @internal */
  observe(): void {
    this.peak = Math.max(this.peak, this.held);
  }

  /** @internal A connection started a message: it reads on with a grant, or waits its turn. */
  ask(connection: ConnectionIntake): void {
    this.ungrant(connection);
    const room = connection.roomNeeded;
    if (this.#queue.size === 0 && this.#fits(room)) this.#grant(connection, room);
    else this.#enqueue(connection);
  }

  /** @internal The grant's message is over (or the connection left): its room goes back. */
  ungrant(connection: ConnectionIntake): void {
    if (!this.#granted.delete(connection)) return;
    this.reserved -= connection.room;
    connection.granted(false, 0);
  }

  /** @internal The rest of a granted message shrinks as its bytes arrive. */
  regrant(connection: ConnectionIntake): void {
    if (!this.#granted.has(connection)) return;
    const room = connection.roomNeeded;
    this.reserved += room - connection.room;
    connection.granted(true, room);
  }

  /** @internal */
  paused(paused: boolean): void {
    this.#pausedNow += paused ? 1 : -1;
    if (paused) this.pauses++;
  }

  /** @internal The connection left: its place in the queue and its grant go. */
  leave(connection: ConnectionIntake): void {
    this.#queue.delete(connection);
    this.ungrant(connection);
    this.resume();
  }

  /** @internal Room came back (a frame written, a decoded message gone, a grant over): grants go in queue order. */
  resume(): void {
    for (const connection of this.#queue) {
      if (connection.overLimit) continue; // it waits for its own frames to be written, not for room
      const room = connection.roomNeeded;
      if (!this.#fits(room)) break;
      this.#queue.delete(connection);
      this.#grant(connection, room);
      connection.waits(false);
    }
    if (this.#queue.size === 0) this.#stopSweeper();
  }

  /**
   * Room for `room` more bytes under the total. Or the server would stall without it: nothing is
   * granted, admitted or decoded, so no room would ever come back (what the waiting connections
   * hold is more than the total less one message).
   */
  #fits(room: number): boolean {
    if (this.held + this.reserved + room <= this.limits.total) return true;
    return this.reserved === 0 && this.admitted === 0 && this.decoded === 0;
  }

  #grant(connection: ConnectionIntake, room: number): void {
    this.#granted.add(connection);
    this.reserved += room;
    connection.granted(true, room);
  }

  #enqueue(connection: ConnectionIntake): void {
    this.#queue.add(connection);
    connection.waits(true);
    this.#sweeper ??= setInterval(() => this.sweep(), GRANT_MS / 2).unref();
  }

  /** @internal Takes back the grants older than GRANT_MS; run by a timer while connections wait. */
  sweep(): void {
    if (this.#queue.size === 0) return;
    const due = this.now() - GRANT_MS;
    for (const connection of this.#granted) {
      if (connection.grantedAt > due) continue;
      this.ungrant(connection);
      this.#enqueue(connection);
    }
    this.resume();
  }

  #stopSweeper(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}

export class ConnectionIntake {
  /** Bytes of this connection's admitted frames not yet written. */
  held = 0;
  /** When its grant was given: it is taken back after GRANT_MS while others wait. */
  grantedAt = 0;
  #buffered = 0;
  #decoded = 0;
  /** The message that just completed on this connection, if the next read reports one. */
  #completed = false;
  #clearing = false;
  #room = 0;
  #granted = false;
  #waiting = false;
  #overLimit = false;
  #paused = false;
  /** Set while the connection reads through a WebSocket the intake can pause; `message`: the most a message and the read that ends it take. */
  #reader: { reader: Reader; message: number; detach: () => void } | undefined;
  #closed = false;

  constructor(private readonly intake: Intake) {}

  get isPaused(): boolean {
    return this.#paused;
  }

  get overLimit(): boolean {
    return this.#overLimit;
  }

  get room(): number {
    return this.#room;
  }

  /** Room for the rest of the message in progress, at its largest, and one read past its end. */
  get roomNeeded(): number {
    return Math.max(0, (this.#reader?.message ?? 0) - this.#buffered);
  }

  /**
   * Reads through `websocket` from now on, if it is a ws WebSocket whose buffers can be counted;
   * otherwise the connection is not paused and its frames may be refused at the total.
   */
  attach(websocket: unknown): void {
    if (this.#closed) return;
    this.#reader?.detach();
    const reading = readWebSocket(websocket, this);
    this.#reader = reading && { ...reading, message: reading.maxMessage + READ_BYTES };
    if (this.#paused) this.#reader?.reader.pause();
  }

  /** After each socket read: `buffered` bytes of a message still arriving are held in ws. */
  read(buffered: number): void {
    const { intake } = this;
    intake.buffered += buffered - this.#buffered;
    this.#buffered = buffered;
    intake.regrant(this);
    intake.observe();
    const completed = this.#completed;
    this.#completed = false;
    if (this.#paused) return;
    if (buffered === 0) intake.ungrant(this); // between messages: it needs no room
    else if (!this.#granted || completed) intake.ask(this); // a message starts
  }

  /**
   * A message of `bytes` was decoded; a frame is admitted within the same turn (socket.io dispatches
   * on the next tick), and what is not admitted by then is garbage: no longer held.
   */
  decoded(bytes: number): void {
    // Its bytes left ws's buffers (counted at the last read, or in the read now under way, which
    // read() counts next): moved, not added.
    const moved = Math.min(bytes, this.#buffered);
    this.#buffered -= moved;
    this.intake.buffered -= moved;
    this.#decoded += bytes;
    this.intake.decoded += bytes;
    this.#completed = true;
    if (this.#clearing) return;
    this.#clearing = true;
    setImmediate(() => {
      this.#clearing = false;
      this.intake.decoded -= this.#decoded;
      this.#decoded = 0;
      this.intake.resume();
    });
  }

  /** Takes room for a frame just received, or refuses it with E_BUSY. Returns the release. */
  admit(bytes: number): () => void {
    const { intake } = this;
    const { perConnection, total } = intake.limits;
    // A frame from a WebSocket was read within its grant: it is in memory already, and refusing it
    // would only make its sender send it again. One from a transport that cannot be paused is.
    if (!this.#reader && intake.held + bytes > total) {
      intake.refused++;
      const retryAfterMs = BUSY_RETRY_MS;
      throw new UpwireError('E_BUSY', `the server holds ${intake.held} bytes of frames, its limit; retry in ${retryAfterMs} ms`, { retryAfterMs });
    }
    const decoded = Math.min(this.#decoded, bytes);
    this.#decoded -= decoded;
    intake.decoded -= decoded;
    this.held += bytes;
    intake.admitted += bytes;
    intake.observe();
    if (this.held > perConnection) {
      intake.ungrant(this); // it waits for its own frames to be written, not for room
      this.#limit(true);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= bytes;
      intake.admitted -= bytes;
      if (this.#overLimit && this.held <= perConnection / 2) this.#limit(false);
      intake.resume();
    };
  }

  /** Stops the accounting's hold on the socket (it closed); its admitted frames are released as they are written. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reader?.detach();
    this.#reader = undefined;
    const { intake } = this;
    intake.buffered -= this.#buffered;
    this.#buffered = 0;
    intake.decoded -= this.#decoded;
    this.#decoded = 0;
    this.#waiting = false;
    this.#overLimit = false;
    this.#apply();
    intake.leave(this);
  }

  /** @internal A grant of `room` given (or resized), or taken back. */
  granted(granted: boolean, room: number): void {
    if (granted && !this.#granted) this.grantedAt = this.intake.now();
    this.#granted = granted;
    this.#room = room;
  }

  /** @internal In the queue for room, or out of it. */
  waits(waiting: boolean): void {
    this.#waiting = waiting;
    this.#apply();
  }

  #limit(over: boolean): void {
    this.#overLimit = over;
    this.#apply();
  }

  #apply(): void {
    const paused = !this.#closed && (this.#waiting || this.#overLimit);
    if (paused === this.#paused) return;
    this.#paused = paused;
    this.intake.paused(paused);
    if (paused) this.#reader?.reader.pause();
    else this.#reader?.reader.resume();
  }
}
