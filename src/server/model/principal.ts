/** What a caller may do: everything (upload), or only watch uploads and read metrics (watch). */
export type Role = 'upload' | 'watch';

/** Who is asking: an id the uploads and files are kept under, and what they may do. */
export interface Principal {
  id: string;
  role: Role;
  /** Anything the authorize hook wants to keep with it. */
  [detail: string]: unknown;
}

/**
 * The one principal every caller is when no authorize hook names principals (the shared tokens,
 * or an open server): the server is then one store that all of them share.
 */
export const EVERYONE = '*';
