/** Messages between the page and the MD5 worker. */
export type HashAlgorithm = 'auto' | 'wasm' | 'spark';

export interface HashRequest { blob: Blob; sliceSize: number; algorithm: HashAlgorithm }

export type HashResponse =
  | { type: 'progress'; bytes: number }
  | { type: 'done'; md5: string; algorithm: 'wasm' | 'spark' }
  | { type: 'error'; message: string };
