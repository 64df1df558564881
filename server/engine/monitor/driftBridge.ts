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

/**
 * The numbers of a table in single precision. Requests reach the log as the model's input tensor
 * (float32 for nearly every ONNX model) while a reference file holds doubles: 1.131301 in the file is
 * 1.1313010454177856 in the log, so a feature with few values (tested by category) would never match
 * its reference. Both sides are compared in single precision, which moves continuous statistics by
 * far less than any threshold.
 */
function singlePrecision(columns: DriftColumns): DriftColumns {
  const result: DriftColumns = {};
  for (const [name, values] of Object.entries(columns)) {
    const rounded = new Float64Array(values.length);
    let numeric = true;
    for (let index = 0; index < values.length && numeric; index++) {
      const value = values[index];
      if (typeof value === 'number') rounded[index] = Math.fround(value);
      else if (value === null || value === undefined) rounded[index] = Number.NaN;
      else numeric = false;
    }
    result[name] = numeric ? rounded : values;
  }
  return result;
}

/** The drift report of `current` against `reference`, both in single precision. */
export function driftBetween(reference: Columns, current: DriftColumns, options: DriftOptions): DriftReport {
  let preparedReference = prepared.get(reference);
  if (!preparedReference) {
    preparedReference = new PreparedColumns(singlePrecision(reference));
    prepared.set(reference, preparedReference);
  }
  current = singlePrecision(current);
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
