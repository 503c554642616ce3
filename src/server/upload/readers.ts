/**
 * Downloads in progress on this node, by md5: a deleted file's bytes stay until the last of them
 * has been sent whole (its record goes at once, so no new download starts). A node knows only
 * its own downloads; one on another node relies on the byte store: a file system keeps an open
 * file readable after it is unlinked, an object store finishes a GET under way.
 */
export class Readers {
  readonly #count = new Map<string, number>();
  /** md5s whose bytes are to be removed when their last reader is done, with what removes them. */
  readonly #waiting = new Map<string, () => void>();

  /** A download of md5 starts; call the answer (once) when it ends, however it ends. */
  hold(md5: string): () => void {
    this.#count.set(md5, (this.#count.get(md5) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.#count.get(md5)! - 1;
      if (left > 0) return void this.#count.set(md5, left);
      this.#count.delete(md5);
      const then = this.#waiting.get(md5);
      this.#waiting.delete(md5);
      then?.();
    };
  }

  reading(md5: string): boolean {
    return this.#count.has(md5);
  }

  /** Runs `task` when md5's last reader is done (at once when none is). */
  whenUnread(md5: string, task: () => void): void {
    if (!this.reading(md5)) return task();
    this.#waiting.set(md5, task);
  }
}
