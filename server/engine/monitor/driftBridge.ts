// The drift statistics the monitor uses, from server/engine/drift: the dataset drift report between
// the reference and the current window, and the ADWIN / DDM detectors for the error stream. The
// reference is prepared (cleaned and sorted) once per columns object and reused every interval.
import type { DriftReport } from '../../shared/deployments';
import { Adwin, Ddm } from '../drift/detectors';
import { DRIFT_METHODS, driftReport, PreparedColumns } from '../drift/report';
import type { Columns as DriftColumns, DriftMethod } from '../drift/report';
import type { Columns } from './reference';

export interface DriftOptions {
  /** A test name, or "auto" for Evidently's choice. */
  method: string;
  threshold: number | null;
  share: number;
  features: string[];
}

export interface StreamDetector {
  /** Adds one observation; true when it signals a change. */
  update(value: number): boolean;
  /** The detector's current estimate of the mean (the error rate). */
  estimation(): number;
}

const prepared = new WeakMap<Columns, PreparedColumns>();

/** The drift report of `current` against `reference`. */
export function driftBetween(reference: Columns, current: DriftColumns, options: DriftOptions): DriftReport {
  let preparedReference = prepared.get(reference);
  if (!preparedReference) {
    preparedReference = new PreparedColumns(reference);
    prepared.set(reference, preparedReference);
  }
  const method = (DRIFT_METHODS as readonly string[]).includes(options.method)
    ? (options.method as DriftMethod)
    : undefined;
  return driftReport(preparedReference, current, {
    ...(method ? { method } : {}),
    ...(options.threshold !== null ? { threshold: options.threshold } : {}),
    share: options.share,
    features: options.features,
  });
}

/** A concept-drift detector: ADWIN with `delta`, or DDM with its defaults. */
export function conceptDetector(kind: 'adwin' | 'ddm', delta: number): StreamDetector {
  if (kind === 'ddm') {
    const ddm = new Ddm();
    return { update: (value) => ddm.update(value), estimation: () => ddm.errorRate };
  }
  const adwin = new Adwin(delta);
  return { update: (value) => adwin.update(value), estimation: () => adwin.estimation };
}
