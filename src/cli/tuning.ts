/*
 * How the server's Node process is started where upwire starts it (`npm start`, `serve --workers`,
 * the Dockerfile and the benchmark say the same): both settings only change when memory is reused
 * or collected, never what is stored or answered.
 *
 * - `--initial-old-space-size=64`: every frame arrives in fresh socket buffers outside V8's heap. With
 *   the default initial limit (32 MiB) V8 starts a full mark-compact of the heap every ~10 MiB
 *   received (about 90 per GiB, ~1.4 s of CPU); with 64 MiB it runs one or two per GiB and the
 *   young-generation collections free the buffers. The flag must be given at start (V8 reads it when
 *   it sizes the heap) and NODE_OPTIONS does not accept it.
 * - glibc's allocator: multi-MiB buffers come from the heap and are reused instead of mapped and
 *   unmapped (and faulted in again) each time.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

export const SERVER_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: '33554432',
  MALLOC_TRIM_THRESHOLD_: '268435456',
  MALLOC_TOP_PAD_: '67108864',
};
