// Sorting of float64 samples, the cost that dominates every ECDF-based drift test. A bucket sort
// on the values themselves (bucket = where the value falls between the minimum and the maximum,
// about two values per bucket, crowded buckets bucketed again the same way, small ones sorted by
// insertion) runs in linear time on the distributions features have: several times faster than
// Float64Array.prototype.sort on a million values. The function is self-contained (no outside
// reference, no inner function for a bundler to wrap) so that its source also runs in a worker
// thread (parallel.ts).

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
  if (values.length <= insertionLimit) return values.sort();
  let scratch = workspace?.values;
  let buckets = workspace?.buckets;
  if (!scratch || scratch.length < values.length) scratch = new Float64Array(values.length);
  if (!buckets || buckets.length < values.length) buckets = new Int32Array(values.length);
  if (workspace) {
    workspace.values = scratch;
    workspace.buckets = buckets;
  }
  // Ranges still to sort, as (start, end, depth) triples; small buckets are sorted on the spot.
  const pending: number[] = [0, values.length, 0];
  while (pending.length > 0) {
    const depth = pending.pop() as number;
    const end = pending.pop() as number;
    const start = pending.pop() as number;
    let minimum = values[start] as number;
    let maximum = minimum;
    for (let index = start + 1; index < end; index++) {
      const value = values[index] as number;
      if (value < minimum) minimum = value;
      else if (value > maximum) maximum = value;
    }
    if (!(maximum > minimum)) continue;
    // A range still crowded after a few rounds (extreme tails) is left to the engine's sort.
    if (depth > maximumDepth || !Number.isFinite(maximum - minimum)) {
      values.subarray(start, end).sort();
      continue;
    }
    const count = Math.max(2, (end - start) >> 1);
    // Monotone in the value (rounding is), and strictly below `count` thanks to the margin.
    const scale = (count / (maximum - minimum)) * (1 - 1e-9);
    const ends = new Int32Array(count + 1);
    for (let index = start; index < end; index++) {
      const bucket = (((values[index] as number) - minimum) * scale) | 0;
      buckets[index] = bucket;
      ends[bucket + 1] = (ends[bucket + 1] as number) + 1;
    }
    for (let bucket = 0; bucket < count; bucket++)
      ends[bucket + 1] = (ends[bucket + 1] as number) + (ends[bucket] as number);
    for (let index = start; index < end; index++) {
      const bucket = buckets[index] as number;
      const position = ends[bucket] as number;
      scratch[start + position] = values[index] as number;
      ends[bucket] = position + 1;
    }
    values.set(scratch.subarray(start, end), start);
    // ends[b] is now where bucket b ends.
    let previous = start;
    for (let bucket = 0; bucket < count; bucket++) {
      const stop = start + (ends[bucket] as number);
      if (stop - previous > insertionLimit) pending.push(previous, stop, depth + 1);
      else
        for (let next = previous + 1; next < stop; next++) {
          const value = values[next] as number;
          let at = next - 1;
          while (at >= previous && (values[at] as number) > value) {
            values[at + 1] = values[at] as number;
            at--;
          }
          values[at + 1] = value;
        }
      previous = stop;
    }
  }
  return values;
}
