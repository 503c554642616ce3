/*
 * How a worker of `upwire serve --workers N` tells its primary why it could not start: the line
 * the single-process server would print. The primary prints the first one once, instead of N
 * workers printing the same line. main.ts loads it for every command: it imports nothing of the server.
 */
import cluster from 'node:cluster';

/** The message a worker sends over its IPC channel before it exits 2. */
export interface StartFailure {
  upwire: 'start-failed';
  line: string;
}

export function isStartFailure(message: unknown): message is StartFailure {
  return typeof message === 'object' && message !== null && (message as StartFailure).upwire === 'start-failed' && typeof (message as StartFailure).line === 'string';
}

/**
 * Ends a process of `upwire serve` that failed with `code`: a worker sends `line` to its primary,
 * then exits (its channel to the primary would keep it alive, and so would any handle a failed start
 * left behind); any other process prints `line` and leaves the exit to the event loop.
 */
export function reportFailure(line: string, code: number): void {
  if (!cluster.isWorker || process.send === undefined || !process.connected) {
    console.error(line);
    process.exitCode = code;
    return;
  }
  const message: StartFailure = { upwire: 'start-failed', line };
  try {
    process.send(message, undefined, {}, (err) => {
      if (err) console.error(line);
      process.exit(code);
    });
  } catch {
    console.error(line);
    process.exit(code);
  }
}
