/*
 * Validators for what the server answers, used by clients: a client must not trust a server
 * either (a bug, a proxy, an impostor). Each returns a fresh object or throws E_BAD_ANSWER.
 * The limits are the protocol's own: every count is bounded by the chunk count of the client's
 * own file, so nothing a server says can make a client loop, allocate or report beyond it.
 */
import { chunkCount, MAX_CHUNKS, MAX_NAME_BYTES, MAX_TYPE_LENGTH, MiB } from './constants.js';
import { ERRORS, isErrorCode, UpwireError, type ErrorCode } from './errors.js';
import type { ChunkAck, CompleteStatus, DeleteAnswer, DeletedEvent, EndedEvent, FileInfo, NoneStatus, PartialStatus, ProveStatus, UploadSnapshot } from './messages.js';
import { parseMetadata } from './validate.js';
import type { Range } from './ranges.js';

/** What the client knows of the file an answer is about: the answer must agree. A watcher may know neither. */
export interface Expected {
  md5?: string;
  size?: number;
}

/** The frame a chunk ack answers. */
export interface SentFrame {
  index: number;
  offset: number;
  total: number;
}

/** A stored file's url is relative to the server, e.g. `/files/<md5>`. */
export const MAX_URL_LENGTH = 2048;
/** Server error messages are printed on terminals: longer ones are cut. */
const MAX_MESSAGE_LENGTH = 500;
const MAX_DETAIL_LENGTH = 200;
const MAX_DETAILS = 16;
/** "Raised by clients, never sent by the server" (errors.ts): a server sending one is lying. */
const CLIENT_ONLY: readonly ErrorCode[] = ['E_UNREACHABLE', 'E_DISCONNECTED', 'E_TIMEOUT', 'E_ABORTED', 'E_FILE', 'E_BAD_ANSWER'];

const MD5_PATTERN = /^[0-9a-f]{32}$/i;
const SHA256_PATTERN = /^[0-9a-f]{64}$/i;
// The characters validate.ts refuses in names: control characters and bidi overrides.
// eslint-disable-next-line no-control-regex
const UNSAFE_CHAR = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_CHARS = new RegExp(UNSAFE_CHAR.source, 'g');
/** Detail keys kept from an error answer: plain identifiers (`retryAfterMs`, `field`, ...). */
const DETAIL_KEY = /^[A-Za-z][A-Za-z0-9]{0,39}$/;

function bad(answer: string, field: string, why: string): UpwireError {
  return new UpwireError('E_BAD_ANSWER', `the server's ${answer} answer: ${field} ${why}`, { field });
}

function record(value: unknown, answer: string, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(answer, field, 'is not an object');
  return value as Record<string, unknown>;
}

/** Own property only, as in validate.ts. */
function field(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function count(value: unknown, answer: string, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || Object.is(value, -0)) {
    throw bad(answer, name, 'is not a non-negative safe integer');
  }
  return value;
}

function flag(value: unknown, answer: string, name: string): boolean {
  if (typeof value !== 'boolean') throw bad(answer, name, 'is not a boolean');
  return value;
}

/** The md5 the client asked about, and no other (servers write it in lower case; a user may not). */
function sameMd5(value: unknown, expected: Expected, answer: string, name: string): string {
  if (typeof value !== 'string' || !MD5_PATTERN.test(value)) throw bad(answer, name, 'is not 32 hex digits');
  if (expected.md5 !== undefined && value.toLowerCase() !== expected.md5.toLowerCase()) {
    throw bad(answer, name, `is not the md5 of the file sent (${expected.md5.toLowerCase()})`);
  }
  return value.toLowerCase();
}

/** A name as validate.ts accepts one from a client: the server may only echo such names. */
function fileName(value: unknown, answer: string, name: string): string {
  if (typeof value !== 'string' || value.length === 0 || !value.isWellFormed() || new TextEncoder().encode(value).length > MAX_NAME_BYTES
    || UNSAFE_CHAR.test(value)) {
    throw bad(answer, name, `is not a name of 1 to ${MAX_NAME_BYTES} bytes without control characters`);
  }
  return value;
}

function sameSize(value: unknown, expected: Expected, answer: string, name: string): number {
  const size = count(value, answer, name);
  if (expected.size !== undefined && size !== expected.size) throw bad(answer, name, `${size} is not the size of the file sent (${expected.size})`);
  return size;
}

/** What a server says, made safe to print: no control characters or bidi overrides, well-formed, bounded. */
export function printable(text: string, max: number): string {
  const clean = text.toWellFormed().replace(UNSAFE_CHARS, '?');
  return clean.length <= max ? clean : `${clean.slice(0, max)}…`;
}

function boundedString(value: unknown, answer: string, name: string, max: number, pattern: RegExp): string {
  if (typeof value !== 'string' || value.length > max || !pattern.test(value)) throw bad(answer, name, `is not a printable string of at most ${max} characters`);
  return value;
}

/**
 * `missing`: at most `total` half-open ranges, each non-empty, sorted, disjoint, within [0, total).
 * The length is checked before anything is iterated, and the ranges are never expanded here.
 */
export function parseRanges(value: unknown, total: number, answer: string): Range[] {
  const why = `is not a list of sorted, disjoint index ranges within [0, ${total})`;
  if (!Array.isArray(value) || value.length > total) throw bad(answer, 'missing', why);
  const ranges: Range[] = [];
  let previousEnd = 0;
  for (const range of value as unknown[]) {
    if (!Array.isArray(range) || range.length !== 2) throw bad(answer, 'missing', why);
    const [start, end] = range as unknown[];
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) throw bad(answer, 'missing', why);
    const [s, e] = [start as number, end as number];
    if (s < previousEnd || s >= e || e > total) throw bad(answer, 'missing', why);
    ranges.push([s, e]);
    previousEnd = e;
  }
  return ranges;
}

/** A stored file: the client's own md5 and size, and bounded printable strings. */
export function parseFileInfo(value: unknown, expected: Expected, answer: string): FileInfo {
  const obj = record(value, answer, 'file');
  const sha256 = field(obj, 'sha256');
  if (sha256 !== undefined && (typeof sha256 !== 'string' || !SHA256_PATTERN.test(sha256))) throw bad(answer, 'file.sha256', 'is not 64 hex digits');
  const metadata = field(obj, 'metadata');
  return {
    md5: sameMd5(field(obj, 'md5'), expected, answer, 'file.md5'),
    size: sameSize(field(obj, 'size'), expected, answer, 'file.size'),
    name: fileName(field(obj, 'name'), answer, 'file.name'),
    type: boundedString(field(obj, 'type'), answer, 'file.type', MAX_TYPE_LENGTH, /^[\x20-\x7e]*$/),
    url: boundedString(field(obj, 'url'), answer, 'file.url', MAX_URL_LENGTH, /^[\x21-\x7e]+$/),
    ...(sha256 === undefined ? {} : { sha256: sha256.toLowerCase() }),
    ...(metadata === undefined ? {} : { metadata: fileMetadata(metadata, answer) }),
  };
}

/** The limits a server holds an init's metadata to (validate.ts), so a server can only echo such metadata. */
function fileMetadata(value: unknown, answer: string): Record<string, string> {
  try {
    return parseMetadata(value, 'file.metadata');
  } catch (err) {
    throw bad(answer, 'file.metadata', (err as Error).message.replace(/^file\.metadata\S* /, ''));
  }
}

/**
 * A proof of possession asks for at most this many ranges of at most this many bytes each, and
 * this many in all (a client reads no more for a proof, whatever a server asks).
 */
const MAX_PROOF_RANGES = 1024;
const MAX_PROOF_RANGE_BYTES = 1 * MiB;
const MAX_PROOF_BYTES = 16 * MiB;

/** A challenge to prove possession: ascending, disjoint, non-empty byte ranges within the client's own file, few and small. */
export function parseProveStatus(value: unknown, expected: Expected, answer: string): ProveStatus {
  const obj = record(value, answer, 'answer');
  if (field(obj, 'status') !== 'prove') throw bad(answer, 'status', 'is not "prove"');
  const md5 = sameMd5(field(obj, 'md5'), expected, answer, 'md5');
  const size = sameSize(field(obj, 'size'), expected, answer, 'size');
  const challenge = boundedString(field(obj, 'challenge'), answer, 'challenge', 200, /^[\w.-]+$/);
  const why = `are not at most ${MAX_PROOF_RANGES} ascending byte ranges of at most ${MAX_PROOF_RANGE_BYTES} bytes each and ${MAX_PROOF_BYTES} in all, within the file`;
  const list = field(obj, 'ranges');
  if (!Array.isArray(list) || list.length > MAX_PROOF_RANGES) throw bad(answer, 'ranges', why);
  const ranges: Range[] = [];
  let previousEnd = 0;
  let bytes = 0;
  for (const range of list as unknown[]) {
    if (!Array.isArray(range) || range.length !== 2 || !Number.isSafeInteger(range[0]) || !Number.isSafeInteger(range[1])) throw bad(answer, 'ranges', why);
    const [start, end] = range as [number, number];
    bytes += end - start;
    if (start < previousEnd || start >= end || end > size || end - start > MAX_PROOF_RANGE_BYTES || bytes > MAX_PROOF_BYTES) throw bad(answer, 'ranges', why);
    ranges.push([start, end]);
    previousEnd = end;
  }
  return { status: 'prove', md5, size, challenge, ranges };
}

export function parseCompleteStatus(value: unknown, expected: Expected, answer: string): CompleteStatus {
  const obj = record(value, answer, 'answer');
  if (field(obj, 'status') !== 'complete') throw bad(answer, 'status', 'is not "complete"');
  return { status: 'complete', file: parseFileInfo(field(obj, 'file'), expected, answer) };
}

/**
 * What is missing of an upload in progress: the client's md5 and size, a chunk geometry that fits
 * them (total = ceil(size / chunkSize), at most MAX_CHUNKS), ranges within it, and `next` the
 * first missing index (null when none is).
 */
export function parsePartialStatus(value: unknown, expected: Expected, answer: string): PartialStatus {
  const obj = record(value, answer, 'answer');
  if (field(obj, 'status') !== 'partial') throw bad(answer, 'status', 'is not "partial"');
  const md5 = sameMd5(field(obj, 'md5'), expected, answer, 'md5');
  const size = sameSize(field(obj, 'size'), expected, answer, 'size');
  const chunkSize = count(field(obj, 'chunkSize'), answer, 'chunkSize');
  if (chunkSize === 0) throw bad(answer, 'chunkSize', 'is 0');
  const total = count(field(obj, 'total'), answer, 'total');
  if (total !== chunkCount(size, chunkSize)) throw bad(answer, 'total', `${total} is not ceil(${size} / ${chunkSize})`);
  if (total > MAX_CHUNKS) throw bad(answer, 'total', `${total} is above ${MAX_CHUNKS} chunks`);
  const missing = parseRanges(field(obj, 'missing'), total, answer);
  const next = field(obj, 'next');
  const first = missing[0]?.[0] ?? null;
  if (next !== first) throw bad(answer, 'next', `is not the first missing index (${first})`);
  return { status: 'partial', md5, size, chunkSize, total, missing, next: first };
}

/** The answer to init: the file is stored (an instant upload), or what is missing of it. */
export function parseInitAnswer(value: unknown, expected: Expected): CompleteStatus | PartialStatus | ProveStatus {
  const status = field(record(value, 'init', 'answer'), 'status');
  if (status === 'prove') return parseProveStatus(value, expected, 'init');
  return status === 'complete' ? parseCompleteStatus(value, expected, 'init') : parsePartialStatus(value, expected, 'init');
}

export function parseStatusAnswer(value: unknown, expected: Expected): CompleteStatus | PartialStatus | NoneStatus {
  const status = field(record(value, 'status', 'answer'), 'status');
  if (status === 'none') return { status: 'none' };
  return status === 'complete' ? parseCompleteStatus(value, expected, 'status') : parsePartialStatus(value, expected, 'status');
}

/** The answer to one frame: it echoes the frame, and counts chunks of the client's own total. */
export function parseChunkAck(value: unknown, sent: SentFrame): ChunkAck {
  const answer = 'chunk';
  const obj = record(value, answer, 'answer');
  const index = count(field(obj, 'index'), answer, 'index');
  const offset = count(field(obj, 'offset'), answer, 'offset');
  if (index !== sent.index || offset !== sent.offset) throw bad(answer, 'index/offset', `${index}/${offset} is not the frame sent (${sent.index}/${sent.offset})`);
  const total = count(field(obj, 'total'), answer, 'total');
  if (total !== sent.total) throw bad(answer, 'total', `${total} is not the chunk count of the file (${sent.total})`);
  const received = count(field(obj, 'received'), answer, 'received');
  if (received > total) throw bad(answer, 'received', `${received} is above total ${total}`);
  const next = field(obj, 'next');
  if (next !== null && count(next, answer, 'next') >= total) throw bad(answer, 'next', `is not an index below ${total}`);
  return {
    index, offset, total, received,
    accepted: flag(field(obj, 'accepted'), answer, 'accepted'),
    stored: flag(field(obj, 'stored'), answer, 'stored'),
    next: next as number | null,
  };
}

/**
 * An error answer, as an UpwireError: a code the protocol has and servers send, a printable
 * message, and only scalar details (bounded). Arrays and objects are dropped: the client uses
 * none (after E_INCOMPLETE it asks init again, whose `missing` is checked against the file).
 */
export function parseServerError(value: unknown, request: string): UpwireError {
  const obj = record(value, request, 'error');
  const code = field(obj, 'code');
  if (!isErrorCode(code) || CLIENT_ONLY.includes(code)) {
    throw bad(request, 'error.code', `${typeof code === 'string' ? JSON.stringify(printable(code, 40)) : typeof code} is not a code servers send`);
  }
  const message = field(obj, 'message');
  const details: Record<string, unknown> = {};
  for (const key of Object.keys(obj).filter((k) => k !== 'code' && k !== 'message' && DETAIL_KEY.test(k)).slice(0, MAX_DETAILS)) {
    const detail = obj[key];
    if (typeof detail === 'boolean' || (typeof detail === 'number' && Number.isFinite(detail))) details[key] = detail;
    else if (typeof detail === 'string') details[key] = printable(detail, MAX_DETAIL_LENGTH);
  }
  return new UpwireError(code, typeof message === 'string' ? printable(message, MAX_MESSAGE_LENGTH) : ERRORS[code].message, details);
}

/**
 * A Result: `{ ok: true, ... }` returns its fields (for the validator of that answer), `{ ok: false, error }`
 * throws the server's error, anything else throws E_BAD_ANSWER.
 */
export function parseResult(value: unknown, request: string): Record<string, unknown> {
  const obj = record(value, request, 'result');
  const ok = field(obj, 'ok');
  if (ok === true) return obj;
  if (ok === false) throw parseServerError(field(obj, 'error'), request);
  throw bad(request, 'ok', 'is neither true nor false');
}

/** The most uploads a watch answer may list, and sending clients an upload may show. */
export const MAX_WATCHED = 10_000;
const MAX_CLIENTS = 1000;

/** One upload in flight as a watcher sees it: counts within the upload's own, printable strings. */
export function parseSnapshot(value: unknown, answer: string): UploadSnapshot {
  const obj = record(value, answer, 'upload');
  const size = count(field(obj, 'size'), answer, 'size');
  const total = count(field(obj, 'total'), answer, 'total');
  const received = count(field(obj, 'received'), answer, 'received');
  const bytes = count(field(obj, 'bytes'), answer, 'bytes');
  const rate = field(obj, 'rate');
  const clients = field(obj, 'clients');
  if (total > MAX_CHUNKS || received > total) throw bad(answer, 'total/received', 'do not fit the upload');
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0) throw bad(answer, 'rate', 'is not a finite rate');
  if (!Array.isArray(clients) || clients.length > MAX_CLIENTS) throw bad(answer, 'clients', `is not a list of at most ${MAX_CLIENTS} ids`);
  const md5 = sameMd5(field(obj, 'md5'), {}, answer, 'md5');
  // A server before upload ids sent none: its uploads were keyed by md5.
  const id = field(obj, 'id') === undefined ? md5 : boundedString(field(obj, 'id'), answer, 'id', 128, /^[0-9a-f-]+$/);
  return {
    id, md5,
    name: fileName(field(obj, 'name'), answer, 'name'),
    size, total, received, bytes, rate,
    clients: (clients as unknown[]).map((id) => boundedString(id, answer, 'clients', 64, /^[\x21-\x7e]+$/)),
  };
}

/** The answer to watch: the uploads in flight, of `md5` alone when one is watched. */
export function parseWatchAnswer(value: unknown, expected: Expected): { uploads: UploadSnapshot[] } {
  const uploads = field(record(value, 'watch', 'answer'), 'uploads');
  if (!Array.isArray(uploads) || uploads.length > MAX_WATCHED) throw bad('watch', 'uploads', `is not a list of at most ${MAX_WATCHED} uploads`);
  const parsed = (uploads as unknown[]).map((u) => parseSnapshot(u, 'watch'));
  if (expected.md5 !== undefined) for (const u of parsed) sameMd5(u.md5, expected, 'watch', 'md5');
  return { uploads: parsed };
}

const ENDED_REASONS: readonly unknown[] = ['aborted', 'expired', 'failed'] satisfies EndedEvent['reason'][];

export function parseEnded(value: unknown): EndedEvent {
  const obj = record(value, 'ended', 'event');
  const reason = field(obj, 'reason');
  const code = field(obj, 'code');
  if (!ENDED_REASONS.includes(reason)) throw bad('ended', 'reason', 'is not aborted, expired or failed');
  if (code !== undefined && !isErrorCode(code)) throw bad('ended', 'code', 'is not an error code');
  const md5 = sameMd5(field(obj, 'md5'), {}, 'ended', 'md5');
  const id = field(obj, 'id') === undefined ? md5 : boundedString(field(obj, 'id'), 'ended', 'id', 128, /^[0-9a-f-]+$/);
  return { id, md5, reason: reason as EndedEvent['reason'], ...(code === undefined ? {} : { code }) };
}

/** The answer to delete: the md5 asked about, nothing else. */
export function parseDeleteAnswer(value: unknown, expected: Expected): DeleteAnswer {
  return { md5: sameMd5(field(record(value, 'delete', 'answer'), 'md5'), expected, 'delete', 'md5') };
}

export function parseDeleted(value: unknown): DeletedEvent {
  const obj = record(value, 'deleted', 'event');
  return { md5: sameMd5(field(obj, 'md5'), {}, 'deleted', 'md5'), stored: flag(field(obj, 'stored'), 'deleted', 'stored') };
}
