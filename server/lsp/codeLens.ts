// Code lenses on pipeline specs: "Run pipeline" above `stages:`, and "Run stage" and "Show lineage"
// above each stage key; on experiment specs, "Run experiment" and "Open experiments table" above the
// first key. The commands are the extension's (cairn.runPipeline, cairn.runStage, cairn.showLineage,
// cairn.runExperiment, cairn.openExperiments); another editor can bind the same command names to the
// `cairn` CLI.
import type { CodeLens, CodeLensParams } from 'vscode-languageserver/node';
import { isMap } from 'yaml';
import { mapPair, nodeEnd, nodeStart } from '../spec/parse';
import type { LineIndex } from '../spec/text';
import type { Session } from './session';

/** The lenses of a pipeline spec, or null for any other file. */
export function codeLenses(session: Session, params: CodeLensParams): CodeLens[] | null {
  const state = session.document(params.textDocument.uri);
  if (state?.kind === 'experiment') return experimentLenses(state.parsed?.root, state.lines, params.textDocument.uri);
  if (!state || state.kind !== 'pipeline') return null;
  const model = state.analyzer.model(state.file);
  if (!model) return null;
  const uri = params.textDocument.uri;
  const lenses: CodeLens[] = [];
  const stagesKey = mapPair(model.parsed.root, 'stages')?.key;
  const stagesRange = keyRange(state.lines, stagesKey);
  if (stagesRange && model.definitions.length > 0)
    lenses.push({
      range: stagesRange,
      command: { title: 'Run pipeline', command: 'cairn.runPipeline', arguments: [uri] },
    });
  // One pair of lenses per definition: a foreach/matrix stage gets them on its key, and running it
  // runs all of its instances.
  for (const definition of model.definitions) {
    const range = keyRange(state.lines, definition.keyNode);
    if (!range) continue;
    lenses.push(
      { range, command: { title: 'Run stage', command: 'cairn.runStage', arguments: [uri, definition.name] } },
      { range, command: { title: 'Show lineage', command: 'cairn.showLineage', arguments: [uri, definition.name] } },
    );
  }
  return lenses;
}

function keyRange(lines: LineIndex, key: unknown): CodeLens['range'] | null {
  const start = nodeStart(key);
  if (start === undefined) return null;
  return lines.range(start, nodeEnd(key) ?? start);
}

/** "Run experiment" and "Open experiments table" above the first key of an experiment spec. */
function experimentLenses(root: unknown, lines: LineIndex, uri: string): CodeLens[] {
  const first = isMap(root) ? root.items[0]?.key : undefined;
  const range = keyRange(lines, first);
  if (!range) return [];
  return [
    { range, command: { title: 'Run experiment', command: 'cairn.runExperiment', arguments: [uri] } },
    { range, command: { title: 'Open experiments table', command: 'cairn.openExperiments', arguments: [uri] } },
  ];
}
