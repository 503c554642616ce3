import { createHash, timingSafeEqual } from 'node:crypto';

/** Constant-time token check: both sides are hashed first so their lengths leak nothing either. */
export function tokenMatches(given: unknown, expected: string | undefined): boolean {
  if (expected === undefined) return true;
  if (typeof given !== 'string') return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token from `Authorization: Bearer <token>`. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return match?.[1]?.trim();
}

import type { Role } from '../model/principal.js';

export type { Role } from '../model/principal.js';

/** The role a token gives, or undefined when it gives none (an unset upload token opens everything). */
export function roleOf(token: unknown, tokens: { uploadToken: string | undefined; watchToken: string | undefined }): Role | undefined {
  if (tokenMatches(token, tokens.uploadToken)) return 'upload';
  if (tokens.watchToken !== undefined && tokenMatches(token, tokens.watchToken)) return 'watch';
  return undefined;
}

/**
 * Browsers send an Origin and WebSockets are not subject to CORS, so a page on another site could
 * open a socket here: with ALLOWED_ORIGINS set, only those origins may. (The Host header is no
 * proof of anything: a DNS-rebinding page sends its own name as both Origin and Host.) Clients
 * that send no Origin (the CLI, Node scripts) are not browsers and are let through.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[] | undefined): boolean {
  return allowed === undefined || origin === undefined || allowed.includes(origin);
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/**
 * The host names a request may be addressed to, or undefined for any. A server without a token
 * answers only to its own names (ALLOWED_HOSTS, by default loopback and HOST), so a page that
 * rebinds some name to this machine's address cannot use it; with a token, the token guards it.
 */
export function allowedHosts(config: { allowedHosts: string[] | undefined; uploadToken: string | undefined; host: string }): string[] | undefined {
  if (config.allowedHosts) return config.allowedHosts;
  if (config.uploadToken !== undefined) return undefined;
  const own = config.host === '0.0.0.0' || config.host === '::' ? [] : [config.host.toLowerCase()];
  return [...LOOPBACK_NAMES, ...own];
}

/** Whether a Host header names one of `allowed` (the port does not matter). */
export function hostAllowed(host: string | undefined, allowed: readonly string[] | undefined): boolean {
  if (allowed === undefined) return true;
  if (host === undefined) return false;
  const name = /^\[([^\]]+)\](?::\d+)?$/.exec(host)?.[1] ?? host.replace(/:\d+$/, '');
  return allowed.includes(name.toLowerCase());
}
