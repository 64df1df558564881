// Sorting of float64 samples, the cost that dominates every ECDF-based drift test. A bucket sort
// on the values themselves (bucket = where the value falls between the minimum and the maximum,
// about two values per bucket, buckets sorted again the same way or by insertion) runs in linear
// time on the distributions features have: several times faster than Float64Array.prototype.sort
// on a million values. The function is self-contained (no outside reference) so that its source
// can also run in a worker thread (see parallel.ts).

/** Scratch memory for sortFloat64, reusable across calls (at least as long as the values). */
export interface SortWorkspace {
  values: Float64Array;
  buckets: Int32Array;
}

/**
 * Sorts finite float64 values ascending, in place, and returns the array. NaN must be removed.
 * A workspace passed in is used (and grown) instead of allocating scratch memory on every call.
 */
export function sortFloat64(values: Float64Array, workspace?: SortWorkspace): Float64Array {
  const insertionLimit = 48;
  const maximumDepth = 3;
  function insertion(target: Float64Array, start: number, end: number): void {
    for (let next = start + 1; next < end; next++) {
      const value = target[next] as number;
      let at = next - 1;
      while (at >= start && (target[at] as number) > value) {
        target[at + 1] = target[at] as number;
        at--;
      }
      target[at + 1] = value;
    }
  }
  function sortRange(
    target: Float64Array,
    start: number,
    end: number,
    scratch: Float64Array,
    buckets: Int32Array,
    depth: number,
  ): void {
    const length = end - start;
    if (length <= insertionLimit) {
      insertion(target, start, end);
      return;
    }
    let minimum = target[start] as number;
    let maximum = minimum;
    for (let index = start + 1; index < end; index++) {
      const value = target[index] as number;
      if (value < minimum) minimum = value;
      else if (value > maximum) maximum = value;
    }
    if (!(maximum > minimum)) return;
    // A bucket that stays crowded after a few rounds (heavy ties of distinct values, extreme
    // tails) is left to the engine's sort.
    if (depth > maximumDepth || !Number.isFinite(maximum - minimum)) {
      target.subarray(start, end).sort();
      return;
    }
    const count = Math.max(2, length >> 1);
    // Monotone in the value (rounding is), and strictly below `count` thanks to the margin.
    const scale = (count / (maximum - minimum)) * (1 - 1e-9);
    const ends = new Int32Array(count + 1);
    for (let index = start; index < end; index++) {
      const bucket = (((target[index] as number) - minimum) * scale) | 0;
      buckets[index] = bucket;
      ends[bucket + 1] = (ends[bucket + 1] as number) + 1;
    }
    for (let bucket = 0; bucket < count; bucket++)
      ends[bucket + 1] = (ends[bucket + 1] as number) + (ends[bucket] as number);
    for (let index = start; index < end; index++) {
      const bucket = buckets[index] as number;
      const position = ends[bucket] as number;
      scratch[start + position] = target[index] as number;
      ends[bucket] = position + 1;
    }
    target.set(scratch.subarray(start, end), start);
    // ends[b] is now where bucket b ends.
    let previous = start;
    for (let bucket = 0; bucket < count; bucket++) {
      const stop = start + (ends[bucket] as number);
      if (stop - previous > 1) sortRange(target, previous, stop, scratch, buckets, depth + 1);
      previous = stop;
    }
  }
  if (values.length < 2) return values;
  let scratch = workspace?.values;
  let buckets = workspace?.buckets;
  if (!scratch || scratch.length < values.length) scratch = new Float64Array(values.length);
  if (!buckets || buckets.length < values.length) buckets = new Int32Array(values.length);
  if (workspace) {
    workspace.values = scratch;
    workspace.buckets = buckets;
  }
  sortRange(values, 0, values.length, scratch, buckets, 0);
  return values;
}
