import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ErrorCode } from '../../protocol/index.js';
import type { UploadEvents } from './events.js';

/** What the metrics read of the frame bytes held in memory (socket/intake.ts). */
export interface IntakeGauges {
  readonly held: number;
  readonly peak: number;
  readonly pauses: number;
  readonly pausedNow: number;
}

/** GET /metrics, in Prometheus text format. */
export class Metrics implements Partial<UploadEvents> {
  readonly registry = new Registry();
  readonly #bytes = new Counter({ name: 'upwire_received_bytes_total', help: 'Frame bytes written to temp files', registers: [this.registry] });
  readonly #chunks = new Counter({ name: 'upwire_chunks_received_total', help: 'Chunks stored', registers: [this.registry] });
  readonly #started = new Counter({ name: 'upwire_uploads_started_total', help: 'New uploads created by init', registers: [this.registry] });
  readonly #resumed = new Counter({ name: 'upwire_uploads_resumed_total', help: 'Inits that found a partial upload', registers: [this.registry] });
  readonly #instant = new Counter({ name: 'upwire_uploads_instant_total', help: 'Inits answered complete at once (file already stored)', registers: [this.registry] });
  readonly #completed = new Counter({ name: 'upwire_uploads_completed_total', help: 'Uploads verified and stored', registers: [this.registry] });
  readonly #failed = new Counter({ name: 'upwire_requests_failed_total', help: 'Requests answered with an error, by code', labelNames: ['code'], registers: [this.registry] });
  readonly #connections = new Gauge({ name: 'upwire_connections', help: 'Open socket.io connections on /upload', registers: [this.registry] });
  readonly #verify = new Histogram({
    name: 'upwire_verification_seconds', help: 'Time to finish the MD5 of an upload at merge', registers: [this.registry],
    buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  });
  readonly #write = new Histogram({
    name: 'upwire_disk_write_seconds', help: 'Latency of one frame write to its temp file', registers: [this.registry],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
  });

  constructor(activeUploads: () => number, intake: IntakeGauges, partialUploads: () => number) {
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({ name, help, registers: [this.registry], collect() {
        this.set(read());
      } });
    gauge('upwire_active_uploads', 'Partial uploads open in memory', activeUploads);
    gauge('upwire_partial_uploads', 'Partial uploads kept (capped by MAX_UPLOADS)', partialUploads);
    gauge('upwire_buffered_bytes', 'Frame bytes in memory now: read from sockets and not yet admitted, or admitted and not yet written', () => intake.held);
    gauge('upwire_buffered_bytes_peak', 'The most frame bytes ever in memory at once (read and not yet admitted, or admitted and not yet written)', () => intake.peak);
    gauge('upwire_paused_connections', 'Connections not being read now: waiting for room under MAX_BUFFERED, or holding too much themselves', () => intake.pausedNow);
    new Counter({ name: 'upwire_connection_pauses_total', help: 'Times a connection stopped being read: to wait for room under MAX_BUFFERED, or because it held too much', registers: [this.registry], collect() {
      this.reset();
      this.inc(intake.pauses);
    } });
    collectDefaultMetrics({ register: this.registry, prefix: 'upwire_' });
  }

  initialized(outcome: 'new' | 'resumed' | 'instant'): void {
    ({ new: this.#started, resumed: this.#resumed, instant: this.#instant })[outcome].inc();
  }

  written(bytes: number, seconds: number): void {
    this.#bytes.inc(bytes);
    this.#write.observe(seconds);
  }

  chunkRecorded(): void {
    this.#chunks.inc();
  }

  verified(seconds: number): void {
    this.#verify.observe(seconds);
  }

  complete(): void {
    this.#completed.inc();
  }

  /** A request was answered with an error (not an UploadEvents event: the socket layer calls it). */
  refused(code: ErrorCode): void {
    this.#failed.inc({ code });
  }

  connections(delta: 1 | -1): void {
    this.#connections.inc(delta);
  }
}
