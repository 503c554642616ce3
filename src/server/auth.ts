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

/** What a caller may do: everything with the upload token, only watch with the watch token. */
export type Role = 'upload' | 'watch';

/** The role a token gives, or undefined when it gives none (an unset upload token opens everything). */
export function roleOf(token: unknown, tokens: { uploadToken: string | undefined; watchToken: string | undefined }): Role | undefined {
  if (tokenMatches(token, tokens.uploadToken)) return 'upload';
  if (tokens.watchToken !== undefined && tokenMatches(token, tokens.watchToken)) return 'watch';
  return undefined;
}
