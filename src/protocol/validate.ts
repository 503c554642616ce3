import { UpwireError } from './errors.js';
import {
  MAX_FRAME_SIZE, MAX_METADATA_BYTES, MAX_METADATA_KEY_LENGTH, MAX_METADATA_KEYS, MAX_METADATA_VALUE_BYTES, MAX_NAME_BYTES, MAX_TYPE_LENGTH,
} from './constants.js';
import type { ChunkRequest, InitRequest, Md5Request, Metadata, PreflightRequest, ProveRequest, WatchRequest } from './messages.js';

/*
 * Types do not cross the wire: every payload is checked here, with hard limits, before anything
 * touches disk. Each validator returns a fresh object holding only the known fields, so extra keys
 * (`__proto__`, `constructor`, ...) never reach the server's logic.
 */

const MD5_PATTERN = /^[0-9a-f]{32}$/i;
// C0 and C1 control characters, DEL, and the bidi overrides that let a name display as another.
// eslint-disable-next-line no-control-regex
const UNSAFE_NAME_CHARS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function bad(field: string, why: string): UpwireError {
  return new UpwireError('E_BAD_REQUEST', `${field} ${why}`, { field });
}

function record(payload: unknown): Record<string, unknown> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw bad('payload', 'must be an object');
  }
  return payload as Record<string, unknown>;
}

/** Own property only: an inherited `md5` on Object.prototype must not count. */
function field(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

export function parseMd5(value: unknown, name = 'md5'): string {
  if (typeof value !== 'string' || !MD5_PATTERN.test(value)) throw bad(name, 'must be 32 hex digits');
  return value.toLowerCase();
}

/** A canonical non-negative safe integer: no fractions, no -0, no NaN, no strings. */
export function parseCount(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || Object.is(value, -0)) {
    throw bad(name, 'must be a non-negative safe integer');
  }
  return value;
}

export function parseName(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw bad('name', 'must be a non-empty string');
  if (!value.isWellFormed()) throw bad('name', 'must be well-formed Unicode');
  if (UNSAFE_NAME_CHARS.test(value)) throw bad('name', 'must not contain control characters');
  if (new TextEncoder().encode(value).length > MAX_NAME_BYTES) throw bad('name', `must be at most ${MAX_NAME_BYTES} bytes`);
  return value;
}

const METADATA_KEY = new RegExp(`^[A-Za-z0-9_.-]{1,${MAX_METADATA_KEY_LENGTH}}$`);

/**
 * Metadata: at most MAX_METADATA_KEYS plain keys, each value a string held to the rules of names
 * (well-formed, no control characters; empty allowed) and MAX_METADATA_VALUE_BYTES, all of it
 * within MAX_METADATA_BYTES. Returned as a fresh object of own data properties only.
 */
export function parseMetadata(value: unknown, name = 'metadata'): Metadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(name, 'must be an object of strings');
  const entries = Object.entries(value);
  if (entries.length > MAX_METADATA_KEYS) throw bad(name, `must have at most ${MAX_METADATA_KEYS} keys`);
  let bytes = 0;
  for (const [key, text] of entries) {
    if (!METADATA_KEY.test(key)) throw bad(name, `keys must be 1 to ${MAX_METADATA_KEY_LENGTH} of A-Z a-z 0-9 _ . - (got ${JSON.stringify(key.slice(0, 80))})`);
    if (typeof text !== 'string' || !text.isWellFormed() || UNSAFE_NAME_CHARS.test(text)) {
      throw bad(`${name}.${key}`, 'must be a string of well-formed Unicode without control characters');
    }
    const length = new TextEncoder().encode(text).length;
    if (length > MAX_METADATA_VALUE_BYTES) throw bad(`${name}.${key}`, `must be at most ${MAX_METADATA_VALUE_BYTES} bytes`);
    bytes += key.length + length;
  }
  if (bytes > MAX_METADATA_BYTES) throw bad(name, `must be at most ${MAX_METADATA_BYTES} bytes of keys and values`);
  return Object.fromEntries(entries) as Metadata;
}

function parseType(value: unknown): string {
  if (value === undefined) return 'application/octet-stream';
  // A media type is plain printable ASCII; anything else is refused rather than echoed in headers.
  if (typeof value !== 'string' || value.length > MAX_TYPE_LENGTH || !/^[\x21-\x7e]*( *; *[\x21-\x7e]+)*$/.test(value)) {
    throw bad('type', 'must be a printable ASCII media type');
  }
  return value === '' ? 'application/octet-stream' : value;
}

function parseBinary(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw bad('data', 'must be binary');
}

/** An init request after validation: `type` is always set (defaulted). */
export type ParsedInit = Omit<InitRequest, 'type'> & { type: string };

export function parseInit(payload: unknown): ParsedInit {
  const obj = record(payload);
  const chunkSize = field(obj, 'chunkSize');
  const metadata = field(obj, 'metadata');
  return {
    md5: parseMd5(field(obj, 'md5')),
    size: parseCount(field(obj, 'size'), 'size'),
    name: parseName(field(obj, 'name')),
    type: parseType(field(obj, 'type')),
    ...(chunkSize === undefined ? {} : { chunkSize: positive(parseCount(chunkSize, 'chunkSize'), 'chunkSize') }),
    ...(metadata === undefined ? {} : { metadata: parseMetadata(metadata) }),
  };
}

function positive(n: number, name: string): number {
  if (n === 0) throw bad(name, 'must be positive');
  return n;
}

export type ParsedChunk = Omit<ChunkRequest, 'data' | 'offset'> & { offset: number; data: Uint8Array };

export function parseChunk(payload: unknown): ParsedChunk {
  const obj = record(payload);
  const offset = field(obj, 'offset');
  const data = parseBinary(field(obj, 'data'));
  if (data.length === 0) throw bad('data', 'must not be empty');
  if (data.length > MAX_FRAME_SIZE) throw bad('data', `must be at most ${MAX_FRAME_SIZE} bytes`);
  return {
    md5: parseMd5(field(obj, 'md5')),
    index: parseCount(field(obj, 'index'), 'index'),
    total: parseCount(field(obj, 'total'), 'total'),
    offset: offset === undefined ? 0 : parseCount(offset, 'offset'),
    data,
  };
}

export function parseMd5Request(payload: unknown): Md5Request {
  return { md5: parseMd5(field(record(payload), 'md5')) };
}

/** A challenge is the server's own token (see server/possession.ts): printable, bounded. */
export function parseProve(payload: unknown): ParsedInit & Pick<ProveRequest, 'challenge' | 'digest'> {
  const obj = record(payload);
  const challenge = field(obj, 'challenge');
  if (typeof challenge !== 'string' || !/^[\w.-]{1,200}$/.test(challenge)) throw bad('challenge', 'must be the challenge the server sent');
  return { ...parseInit(obj), challenge, digest: parseMd5(field(obj, 'digest'), 'digest') };
}

export function parseWatch(payload: unknown): WatchRequest {
  const md5 = payload === undefined ? undefined : field(record(payload), 'md5');
  return md5 === undefined ? {} : { md5: parseMd5(md5) };
}

/** A preflight after validation: an init's fields without the md5 and the chunk size; `type` defaulted. */
export type ParsedPreflight = Omit<PreflightRequest, 'type'> & { type: string };

/** The same rules as an init's fields (parseInit), so what passes here is not refused by init for them. */
export function parsePreflight(payload: unknown): ParsedPreflight {
  const obj = record(payload);
  const metadata = field(obj, 'metadata');
  return {
    size: parseCount(field(obj, 'size'), 'size'),
    name: parseName(field(obj, 'name')),
    type: parseType(field(obj, 'type')),
    ...(metadata === undefined ? {} : { metadata: parseMetadata(metadata) }),
  };
}
