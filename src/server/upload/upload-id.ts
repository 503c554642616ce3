import { createHash } from 'node:crypto';

/**
 * The id an upload in progress is kept under (state, temp file, lock). In a server that is one
 * store for everyone it is the md5: every client sending the same content shares one upload. Where files
 * belong to principals, it is `<md5>-<tag>`, the tag a hash of the principal's id: each principal's
 * upload of some content is its own, so no principal can read, write, replace or abort another's
 * by naming the same md5, nor learn that it exists. (Ids are well-formed Unicode, checked in
 * access.ts, so their UTF-8 is one-to-one and two principals never share a tag but by a SHA-256
 * collision.) The content is still stored once: uploads of the same md5 meet at the merge.
 */
export function uploadId(md5: string, owner: string | undefined): string {
  if (owner === undefined) return md5;
  return `${md5}-${createHash('sha256').update(owner, 'utf8').digest('hex').slice(0, 32)}`;
}
