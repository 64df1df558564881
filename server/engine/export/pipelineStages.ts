// The stages of one pipeline file as the Argo export needs them, read the way the runner reads them
// (server/engine/stages.ts): interpolated commands, foreach/matrix instances, working folders and
// the upstream of each instance. Stages of other pipeline files that these depend on come along, so
// the Workflow produces every input it needs.
import * as path from 'node:path';
import { workspaceStages } from '../stages';
import type { ArgoStage } from './argo';
import { ExportError } from './kubernetes';

/** The stages of `pipelineFile` and their upstream, in the runner's order. */
export function pipelineStages(root: string, pipelineFile: string): ArgoStage[] {
  const { workspace, stages, upstream, problems } = workspaceStages(root);
  const file = path.resolve(pipelineFile);
  const own = problems.filter((problem) => problem.file === file);
  if (own.length > 0)
    throw new ExportError(
      own.map((problem) => `${workspace.relative(problem.file)}:${problem.line}: ${problem.message}`).join('\n'),
    );
  const wanted = new Set(stages.filter((stage) => stage.pipelineFile === file).map((stage) => stage.address));
  if (wanted.size === 0)
    throw new ExportError(`${workspace.relative(file)}: no stages to export. Add stages with a cmd to the pipeline.`);
  // Everything upstream of the file's stages, across files.
  const pending = [...wanted];
  for (let address = pending.pop(); address !== undefined; address = pending.pop()) {
    for (const producer of upstream.get(address) ?? []) {
      if (wanted.has(producer)) continue;
      wanted.add(producer);
      pending.push(producer);
    }
  }
  return stages
    .filter((stage) => wanted.has(stage.address))
    .map((stage) => ({
      address: stage.address,
      commands: typeof stage.cmd === 'string' ? [stage.cmd] : stage.cmd,
      wdir: workspace.relative(stage.cwd),
      upstream: [...(upstream.get(stage.address) ?? [])],
    }));
}
