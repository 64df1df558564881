// What a position in a spec means beyond its schema: a stage name, a dep path, a param key, a
// metric, a model. Completion, hover and navigation all ask this one function.
import type { SpecKind } from '../spec/schemas';

export type Role =
  | 'stage'
  | 'dep'
  | 'out'
  | 'param'
  | 'folder'
  | 'file'
  | 'pipeline-file'
  | 'experiment-file'
  | 'metric'
  | 'model'
  | 'dataset'
  | 'alert'
  | 'param-key';

/** The role of a value (or, for 'param-key', of a key) at a path in a spec of some kind. */
export function roleAt(
  kind: SpecKind | null,
  containerPath: readonly (string | number)[],
  key: string | null,
): Role | null {
  const path = containerPath.map((part) => (typeof part === 'number' ? '#' : part));
  const at = (...expected: string[]): boolean =>
    path.length === expected.length && expected.every((part, index) => part === '*' || part === path[index]);
  if (kind === 'pipeline') {
    // A foreach stage keeps its body under `do`; the body reads like any other stage.
    if (path[0] === 'stages' && path[2] === 'do') path.splice(2, 1);
    if (at('stages', '*', 'deps', '#') && key === null) return 'dep';
    if (
      (at('stages', '*', 'outs', '#') || at('stages', '*', 'metrics', '#') || at('stages', '*', 'plots', '#')) &&
      key === null
    )
      return 'file';
    if (at('stages', '*', 'params', '#') && key === null) return 'param';
    if (at('stages', '*') && key === 'wdir') return 'folder';
    if (at('models', '*') && key === 'stage') return 'stage';
    if (at('models', '*') && key === 'artifact') return 'out';
    if (at('datasets', '*', 'source') && key === 'path') return 'file';
    return null;
  }
  if (kind === 'experiment') {
    if (path.length === 0 && key === 'pipeline') return 'pipeline-file';
    if (at('stages', '#') && key === null) return 'stage';
    if ((at('objective') || at('holdout')) && key === 'stage') return 'stage';
    if ((at('objective') || at('pruning') || at('acceptance', '#') || at('slices', '#')) && key === 'metric')
      return 'metric';
    if (at('search', 'space') && key === null) return 'param-key';
    if (at('register') && key === 'model') return 'model';
    return null;
  }
  if (kind === 'deployment') {
    if (
      (path.length === 0 && key === 'model') ||
      (at('rollout') && key === 'candidate') ||
      (at('fallback') && key === 'model')
    )
      return 'model';
    if (at('monitoring', 'reference') && key === 'dataset') return 'dataset';
    if ((at('monitoring', 'rollback', 'on', '#') || at('monitoring', 'retrain', 'on', '#')) && key === null)
      return 'alert';
    if (at('monitoring', 'retrain') && key === 'experiment') return 'experiment-file';
    if (at('monitoring', 'alerts', '#') && key === 'runbook') return 'file';
    return null;
  }
  return null;
}
