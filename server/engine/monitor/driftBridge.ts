// The drift statistics the monitor uses, from M1's server/engine/drift: the dataset drift report
// between two sets of columns, and the ADWIN / DDM detectors for the error stream.
import type { DriftReport } from '../../shared/deployments';
import type { Columns } from './reference';

export interface DriftOptions {
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

/** The drift report of `current` against `reference`. */
export function driftBetween(_reference: Columns, _current: Columns, _options: DriftOptions): DriftReport {
  throw new Error('Drift statistics are not available yet (server/engine/drift).');
}

/** A concept-drift detector. */
export function conceptDetector(_kind: 'adwin' | 'ddm', _delta: number): StreamDetector {
  throw new Error('Drift detectors are not available yet (server/engine/drift).');
}
