// Conversions between the core's offsets and problems and LSP's positions and diagnostics.
import { DiagnosticSeverity } from 'vscode-languageserver/node';
import type { Diagnostic, Range } from 'vscode-languageserver/node';
import type { Problem, Severity } from '../spec/problems';
import type { LineIndex } from '../spec/text';

const SEVERITY: Record<Severity, DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  information: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

/** LSP diagnostics for a file's problems; the fix travels in `data` for the quick fixes. */
export function toDiagnostics(problems: readonly Problem[], lines: LineIndex, _uri: string): Diagnostic[] {
  return problems.map((problem) => {
    const diagnostic: Diagnostic = {
      range: lines.range(problem.start, problem.end),
      severity: SEVERITY[problem.severity],
      code: problem.code,
      source: 'cairn',
      message: problem.message,
    };
    if (problem.fix) diagnostic.data = problem.fix;
    return diagnostic;
  });
}

/** An LSP range for an offset range. */
export function toRange(lines: LineIndex, start: number, end: number): Range {
  return lines.range(start, end);
}
