// The difference between two versions of a dataset, from their recorded schemas and profiles:
// columns added and removed, type and nullability changes, row counts, and per column the shift of
// mean, standard deviation, null share and quantiles, and the change of the most frequent values.
import type { InferredColumn, InferredSchema } from './infer';
import type { ColumnProfile, Profile, TopValue } from './profile';

export interface Change<T> {
  from: T;
  to: T;
}

export interface ColumnShift {
  column: string;
  type?: Change<string>;
  nullable?: Change<boolean>;
  mean?: Change<number>;
  std?: Change<number>;
  null_share?: Change<number>;
  quantiles?: Record<string, Change<number>>;
  top?: { added: TopValue['value'][]; removed: TopValue['value'][] };
}

export interface VersionDiff {
  rows: Change<number>;
  added: InferredColumn[];
  removed: InferredColumn[];
  /** Columns in both versions whose type, nullability or figures changed. */
  changed: ColumnShift[];
}

interface Side {
  rows: number;
  schema: InferredSchema;
  profile: Profile;
}

/** The difference from version `a` to version `b`. */
export function diffVersions(a: Side, b: Side): VersionDiff {
  const before = new Map(a.schema.columns.map((column) => [column.name, column]));
  const after = new Map(b.schema.columns.map((column) => [column.name, column]));
  const profileBefore = new Map(a.profile.columns.map((column) => [column.name, column]));
  const profileAfter = new Map(b.profile.columns.map((column) => [column.name, column]));
  const changed: ColumnShift[] = [];
  for (const [name, old] of before) {
    const now = after.get(name);
    if (!now) continue;
    const shift = columnShift(name, old, now, profileBefore.get(name), profileAfter.get(name));
    if (Object.keys(shift).length > 1) changed.push(shift);
  }
  return {
    rows: { from: a.rows, to: b.rows },
    added: b.schema.columns.filter((column) => !before.has(column.name)),
    removed: a.schema.columns.filter((column) => !after.has(column.name)),
    changed,
  };
}

function columnShift(
  name: string,
  old: InferredColumn,
  now: InferredColumn,
  oldProfile: ColumnProfile | undefined,
  newProfile: ColumnProfile | undefined,
): ColumnShift {
  const shift: ColumnShift = { column: name };
  if (old.type !== now.type) shift.type = { from: old.type, to: now.type };
  if (old.nullable !== now.nullable) shift.nullable = { from: old.nullable, to: now.nullable };
  if (!oldProfile || !newProfile) return shift;
  const number = (key: 'mean' | 'std' | 'null_share'): void => {
    const from = oldProfile[key];
    const to = newProfile[key];
    if (from !== undefined && to !== undefined && from !== to) shift[key] = { from, to };
  };
  number('mean');
  number('std');
  number('null_share');
  if (oldProfile.quantiles && newProfile.quantiles) {
    const quantiles: Record<string, Change<number>> = {};
    for (const [key, from] of Object.entries(oldProfile.quantiles)) {
      const to = newProfile.quantiles[key as keyof typeof newProfile.quantiles];
      if (from !== to) quantiles[key] = { from, to };
    }
    if (Object.keys(quantiles).length > 0) shift.quantiles = quantiles;
  }
  const oldTop = oldProfile.top.map((entry) => entry.value);
  const newTop = newProfile.top.map((entry) => entry.value);
  const added = newTop.filter((value) => !oldTop.includes(value));
  const removed = oldTop.filter((value) => !newTop.includes(value));
  if (added.length > 0 || removed.length > 0) shift.top = { added, removed };
  return shift;
}
