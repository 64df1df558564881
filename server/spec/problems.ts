// Problems found in a spec: what the language server shows as diagnostics and the CLI prints.

export type Severity = 'error' | 'warning' | 'information' | 'hint';

/** Data that a quick fix needs to mend a problem. */
export type FixData =
  | { kind: 'replace'; replacement: string }
  | { kind: 'addParam'; paramsFile: string; key: string }
  | { kind: 'createStage'; path: string }
  | { kind: 'removeItem' }
  | { kind: 'createFile'; path: string };

/** One problem with an absolute offset range in its document. */
export interface Problem {
  severity: Severity;
  /** A stable identifier, also used to suppress the problem with `# cairn: ignore CODE`. */
  code: string;
  message: string;
  start: number;
  end: number;
  fix?: FixData;
}

/** A node-anchored problem: its range is read from the node when it is reported, so cached
 * problems follow their nodes when an edit elsewhere shifts them. */
export interface AnchoredProblem {
  severity: Severity;
  code: string;
  message: string;
  anchor: { range?: [number, number, number] | null };
  fix?: FixData;
}

/** Turns an anchored problem into one with offsets. */
export function locate(problem: AnchoredProblem): Problem {
  const range = problem.anchor.range ?? [0, 0, 0];
  const located: Problem = {
    severity: problem.severity,
    code: problem.code,
    message: problem.message,
    start: range[0],
    end: Math.max(range[1], range[0]),
  };
  if (problem.fix) located.fix = problem.fix;
  return located;
}
