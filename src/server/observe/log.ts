import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON lines (one per upload lifecycle event); human-readable through pino-pretty when
 * stdout is a terminal. LOG_LEVEL: fatal, error, warn, info (default), debug, trace or silent.
 */
export function createLogger(level: string, pretty = process.stdout.isTTY === true, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'upwire' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname,service' } } } : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
