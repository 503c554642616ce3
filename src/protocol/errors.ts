/**
 * Stable error codes: the codes are the contract, the messages may change.
 * `retryable` tells a client whether sending the same request again later can succeed.
 */
export const ERRORS = {
  E_BAD_REQUEST: { message: 'malformed request', retryable: false },
  E_UNAUTHORIZED: { message: 'missing or wrong token', retryable: false },
  E_FORBIDDEN: { message: 'not allowed here', retryable: false },
  E_PROTOCOL: { message: 'the client and the server speak different protocol versions', retryable: false },
  E_NOT_FOUND: { message: 'no upwire server at this URL, path or namespace', retryable: false },
  E_TOO_LARGE: { message: 'file is larger than the server accepts', retryable: false },
  E_SIZE_MISMATCH: { message: 'this md5 is already stored with another size', retryable: false },
  E_CONFLICT: { message: 'another upload of this md5 with another size is in progress; retry after retryAfterMs', retryable: true },
  E_UNKNOWN_UPLOAD: { message: 'no upload in progress for this md5', retryable: false },
  E_INDEX: { message: 'chunk index out of range or total mismatch', retryable: false },
  E_CHUNK_SIZE: { message: 'chunk length is wrong for its index', retryable: false },
  E_INCOMPLETE: { message: 'chunks are still missing', retryable: true },
  E_CHECKSUM: { message: 'content does not hash to the md5; the upload starts over', retryable: false },
  E_PROOF: { message: 'the proof of possession of a stored file failed', retryable: false },
  E_NO_SPACE: { message: 'not enough disk space on the server', retryable: true },
  E_RATE_LIMIT: { message: 'too many requests on this connection', retryable: true },
  E_BUSY: { message: 'the server is saturated; retry after retryAfterMs', retryable: true },
  E_INTERNAL: { message: 'internal server error', retryable: true },
  // Raised by clients, never sent by the server.
  E_UNREACHABLE: { message: 'server unreachable', retryable: true },
  E_DISCONNECTED: { message: 'connection lost', retryable: true },
  E_TIMEOUT: { message: 'server did not answer in time', retryable: true },
  E_ABORTED: { message: 'upload aborted', retryable: false },
  E_FILE: { message: 'cannot read the local file', retryable: false },
  E_BAD_ANSWER: { message: 'the server answered something the protocol does not allow', retryable: false },
} as const satisfies Record<string, { message: string; retryable: boolean }>;

export type ErrorCode = keyof typeof ERRORS;

/** What travels in `{ ok: false, error }`. Extra details (e.g. `missing`) sit beside code and message. */
export interface WireError {
  code: ErrorCode;
  message: string;
  [detail: string]: unknown;
}

export class UpwireError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message?: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.name = 'UpwireError';
    this.code = code;
    this.details = details;
  }

  get retryable(): boolean {
    return ERRORS[this.code].retryable;
  }

  toWire(): WireError {
    return { ...this.details, code: this.code, message: this.message };
  }

  static fromWire(error: unknown): UpwireError {
    if (typeof error === 'object' && error !== null && isErrorCode((error as WireError).code)) {
      const { code, message, ...details } = error as WireError;
      return new UpwireError(code, typeof message === 'string' ? message : undefined, details);
    }
    return new UpwireError('E_INTERNAL', 'unreadable error answer from the server');
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}
