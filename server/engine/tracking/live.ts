// Live metrics: a stage appends JSON Lines to a file (the path it gets in CAIRN_METRICS_PATH) and the
// engine ingests them into the run while the file grows. Two line shapes are accepted:
//   {"step": 1, "loss": 0.5, "acc": 0.9}                        every other number is a metric
//   {"key": "loss", "value": 0.5, "step": 1, "timestamp": ...}  one point
// Ingestion resumes at the byte offset stored with the run, and stops before a last line that has
// no newline yet (it is still being written); points and the new offset commit in one transaction.
import * as fs from 'node:fs';
import type { MetricPoint, Tracker } from './tracker';

export interface LiveProblem {
  /** 1-based line of the file. */
  line: number;
  message: string;
}

export interface IngestResult {
  points: number;
  /** The byte offset the next call starts from. */
  offset: number;
  problems: LiveProblem[];
}

/** Timestamps below this are seconds (Python's time.time()), at or above it milliseconds. */
const MILLISECONDS_FROM = 1e11;

function timestampOf(value: unknown, now: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return now;
  return Math.round(value < MILLISECONDS_FROM ? value * 1000 : value);
}

/** The metric points of one JSON line; throws with a message for a line that is not one of the shapes. */
export function pointsOfLine(text: string, now: number): MetricPoint[] {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error('expected a JSON object such as {"step": 1, "loss": 0.5}');
  }
  const record = parsed as Record<string, unknown>;
  const stepValue = record['step'];
  if (stepValue !== undefined && (typeof stepValue !== 'number' || !Number.isInteger(stepValue))) {
    throw new Error(`"step" must be a whole number, not ${JSON.stringify(stepValue)}`);
  }
  const step = stepValue ?? 0;
  const timestamp = timestampOf(record['timestamp'], now);
  if (typeof record['key'] === 'string' && 'value' in record) {
    const value = record['value'];
    if (typeof value !== 'number') throw new Error(`"value" of '${record['key']}' must be a number`);
    return [{ key: record['key'], value, step, timestamp }];
  }
  const points: MetricPoint[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (key === 'step' || key === 'timestamp') continue;
    // Strings and other non-numbers (an epoch label, a phase name) are not metrics; they are skipped.
    if (typeof value === 'number') points.push({ key, value, step, timestamp });
  }
  return points;
}

/** Ingests the complete lines appended to `file` since the last call for this run and file. */
export function ingestMetricsFile(tracker: Tracker, runId: string, file: string, now = Date.now()): IngestResult {
  const db = tracker.store.db;
  const run = tracker.runSeq(runId);
  const saved = db.prepare('SELECT offset, line FROM live_metric_offsets WHERE run = ? AND path = ?').get(run, file) as
    { offset: number; line: number } | undefined;
  let offset = saved?.offset ?? 0;
  let line = saved?.line ?? 0;
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return { points: 0, offset, problems: [] };
  }
  // A file shorter than what was read has been replaced: read the new one from its start.
  if (size < offset) {
    offset = 0;
    line = 0;
  }
  if (size === offset) return { points: 0, offset, problems: [] };
  const buffer = Buffer.alloc(size - offset);
  const fd = fs.openSync(file, 'r');
  let read = 0;
  try {
    while (read < buffer.length) {
      const count = fs.readSync(fd, buffer, read, buffer.length - read, offset + read);
      if (count === 0) break;
      read += count;
    }
  } finally {
    fs.closeSync(fd);
  }
  // Only complete lines: cutting at a newline byte never splits a UTF-8 character.
  const end = buffer.lastIndexOf(0x0a, read - 1);
  if (end === -1) return { points: 0, offset, problems: [] };
  const points: MetricPoint[] = [];
  const problems: LiveProblem[] = [];
  for (const text of buffer.toString('utf8', 0, end).split('\n')) {
    line++;
    if (text.trim() === '') continue;
    try {
      points.push(...pointsOfLine(text, now));
    } catch (error) {
      problems.push({ line, message: error instanceof Error ? error.message : String(error) });
    }
  }
  const next = offset + end + 1;
  db.transaction(() => {
    tracker.logMetrics(runId, points, now);
    db.prepare(
      `INSERT INTO live_metric_offsets (run, path, offset, line) VALUES (?, ?, ?, ?)
       ON CONFLICT (run, path) DO UPDATE SET offset = excluded.offset, line = excluded.line`,
    ).run(run, file, next, line);
  }).immediate();
  return { points: points.length, offset: next, problems };
}
