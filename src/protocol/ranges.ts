/** Half-open index ranges `[start, end)`, as `missing` travels on the wire. */
export type Range = [start: number, end: number];

/** Ranges of indices in `[0, total)` for which `has(i)` is false. */
export function missingRanges(total: number, has: (index: number) => boolean): Range[] {
  const ranges: Range[] = [];
  let start = -1;
  for (let i = 0; i < total; i++) {
    if (has(i)) {
      if (start >= 0) ranges.push([start, i]);
      start = -1;
    } else if (start < 0) {
      start = i;
    }
  }
  if (start >= 0) ranges.push([start, total]);
  return ranges;
}

export function* indicesOf(ranges: readonly Range[]): Generator<number> {
  for (const [start, end] of ranges) for (let i = start; i < end; i++) yield i;
}

export function countOf(ranges: readonly Range[]): number {
  return ranges.reduce((sum, [start, end]) => sum + (end - start), 0);
}
