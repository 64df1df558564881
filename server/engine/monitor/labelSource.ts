// The label file a deployment names (monitoring.labels.source): a JSON Lines file that grows as
// ground truth arrives. Each monitoring round reads the complete lines added since the last round
// (the position is kept in the prediction log, so a restart does not read twice) and records them
// as labels. A file that shrank was replaced and is read again from the start.
import * as fs from 'node:fs';
import { FeedbackError } from './log';
import type { PredictionLog } from './log';

/** Reads what was appended to `file`; returns how many rows were recorded and the lines that were not. */
export function ingestLabelSource(
  log: PredictionLog,
  file: string,
  display: string,
  joinKey: string,
  now: number,
): { added: number; problems: string[] } {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    // Labels may not have arrived yet: no file is no news.
    return { added: 0, problems: [] };
  }
  let position = log.labelSourcePosition(file);
  if (size < position.offset) position = { offset: 0, line: 0 };
  if (size === position.offset) return { added: 0, problems: [] };
  const buffer = Buffer.alloc(size - position.offset);
  const descriptor = fs.openSync(file, 'r');
  try {
    fs.readSync(descriptor, buffer, 0, buffer.length, position.offset);
  } finally {
    fs.closeSync(descriptor);
  }
  // Only complete lines: a writer may be in the middle of the last one.
  const end = buffer.lastIndexOf(0x0a);
  if (end === -1) return { added: 0, problems: [] };
  const lines = buffer.subarray(0, end).toString('utf8').split('\n');
  const problems: string[] = [];
  const rows: Record<string, unknown>[] = [];
  const rowLines: number[] = [];
  lines.forEach((text, index) => {
    const lineNumber = position.line + index + 1;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      problems.push(
        `${display}:${lineNumber}: not valid JSON (${error instanceof Error ? error.message : String(error)}).`,
      );
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${display}:${lineNumber}: expected an object such as {"${joinKey}": "...", "label": 1}.`);
      return;
    }
    rows.push(value as Record<string, unknown>);
    rowLines.push(lineNumber);
  });
  let added = 0;
  try {
    added = log.addFeedback(rows, { now, joinKey, where: display, lines: rowLines });
  } catch (error) {
    if (!(error instanceof FeedbackError)) throw error;
    // One bad row refuses the batch: record the good rows one by one and report the bad ones.
    rows.forEach((row, index) => {
      try {
        added += log.addFeedback([row], { now, joinKey, where: display, lines: [rowLines[index] ?? 0] });
      } catch (rowError) {
        if (!(rowError instanceof FeedbackError)) throw rowError;
        problems.push(rowError.message);
      }
    });
  }
  log.setLabelSourcePosition(file, { offset: position.offset + end + 1, line: position.line + lines.length });
  return { added, problems };
}
