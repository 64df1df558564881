// Labels and business events as users send them (a file, the admin endpoint): one object per row
// with the request id, an optional label and any other fields. Checked here, before any is stored.
import type { FeedbackRow } from './log';

/** Bad feedback input: says which row and what is wrong. */
export class FeedbackError extends Error {}

/**
 * One feedback row from what a user sent: the join key names the request; `label` (when present)
 * makes it a label, otherwise it is a business event; `at` (ms or an ISO date) defaults to now.
 */
export function feedbackOf(row: Record<string, unknown>, place: string, joinKey: string, now: number): FeedbackRow {
  if (row === null || typeof row !== 'object' || Array.isArray(row))
    throw new FeedbackError(`${place}: expected an object such as {"${joinKey}": "...", "label": 1}.`);
  const id = row[joinKey];
  if ((typeof id !== 'string' || id === '') && typeof id !== 'number')
    throw new FeedbackError(
      `${place}: '${joinKey}' is missing; each row needs the request id its label or event is for.`,
    );
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row))
    if (key !== joinKey && key !== 'label' && key !== 'at') fields[key] = value;
  const label = row['label'];
  if (label !== undefined && !isLabelValue(label))
    throw new FeedbackError(
      `${place}: label must be a number, a string, a boolean or a list of them, not ${JSON.stringify(label)}.`,
    );
  return {
    requestId: String(id),
    at: timeOf(row['at'], now, place),
    kind: label === undefined ? 'event' : 'label',
    label: label === undefined ? null : (label as FeedbackRow['label']),
    fields,
  };
}

function isLabelValue(value: unknown): boolean {
  const scalar = (item: unknown) => typeof item === 'number' || typeof item === 'string' || typeof item === 'boolean';
  return scalar(value) || (Array.isArray(value) && value.every((item) => item === null || scalar(item)));
}

function timeOf(value: unknown, now: number, place: string): number {
  if (value === undefined || value === null || value === '') return now;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    if (!Number.isNaN(parsed)) return parsed;
  }
  throw new FeedbackError(
    `${place}: at must be a time in ms since the epoch or an ISO date, not ${JSON.stringify(value)}.`,
  );
}
