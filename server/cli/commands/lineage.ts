// `cairn lineage PATH`: where a file came from (the stage, its inputs, params and code version, back
// to the sources) and what consumed it. `--all` gives the graph the specs declare; `--openlineage
// FILE` exports every recorded stage run as OpenLineage run events (JSON Lines).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { datasetLineage, declaredLineage, openLineageEvents, recordedLineage } from '../../engine/lineage';
import type { LineageGraph } from '../../engine/lineage';
import { PipelineError } from '../../engine/runner';
import { Store } from '../../engine/store';
import { rejectUnknownOptions, takeFlag, takeOption, UsageError } from '../args';
import type { Command } from '../args';

export const lineageCommand: Command = {
  usage: [
    'lineage PATH | NAME@VERSION | --all | --openlineage FILE',
    '                              Trace a file to the data, params and code that made it, and its consumers.',
  ],
  run({ root, json, args }) {
    const all = takeFlag(args, '--all');
    const exportTo = takeOption(args, '--openlineage');
    rejectUnknownOptions(args);
    if (exportTo !== undefined) {
      const store = Store.open(root);
      try {
        const lines = openLineageEvents(store, root);
        fs.writeFileSync(path.resolve(exportTo), lines.map((line) => `${line}\n`).join(''));
        process.stdout.write(`Wrote ${lines.length} OpenLineage events to ${exportTo}.\n`);
      } finally {
        store.close();
      }
      return 0;
    }
    let graph: LineageGraph | null;
    if (all) {
      try {
        graph = declaredLineage(root);
      } catch (error) {
        if (error instanceof PipelineError) throw new UsageError(error.message);
        throw error;
      }
    } else {
      const target = args[0];
      if (target === undefined)
        throw new UsageError('Give a path, a dataset version NAME@N, or --all for the whole graph.');
      const version = /^([\w.-]+)@(\d+)$/.exec(target);
      if (version && !fs.existsSync(path.resolve(target))) {
        const store = Store.open(root);
        try {
          graph = datasetLineage(store, version[1] ?? '', Number(version[2]));
        } finally {
          store.close();
        }
        if (!graph) {
          process.stderr.write(`cairn: no dataset version ${target}: see cairn data versions ${version[1] ?? ''}.\n`);
          return 1;
        }
        if (json) process.stdout.write(`${JSON.stringify(graph, null, 2)}\n`);
        else printTree(graph);
        return 0;
      }
      const relative = path.relative(root, path.resolve(target)).split(path.sep).join('/');
      if (relative.startsWith('..')) throw new UsageError(`${target} is outside the workspace ${root}.`);
      const store = Store.open(root);
      try {
        graph = recordedLineage(store, relative);
      } finally {
        store.close();
      }
      if (!graph) {
        process.stderr.write(
          `cairn: no recorded lineage for ${relative}: no run has produced or read it yet. Run the pipeline first (cairn run), or see the declared graph with cairn lineage --all.\n`,
        );
        return 1;
      }
    }
    if (json) {
      process.stdout.write(`${JSON.stringify(graph, null, 2)}\n`);
      return 0;
    }
    printTree(graph);
    return 0;
  },
};

function printTree(graph: LineageGraph): void {
  const byId = new Map(graph.nodes.map((node) => [node.id, node]));
  const inputs = new Map<string, string[]>();
  const outputs = new Map<string, string[]>();
  for (const edge of graph.edges) {
    inputs.set(edge.to, [...(inputs.get(edge.to) ?? []), edge.from]);
    outputs.set(edge.from, [...(outputs.get(edge.from) ?? []), edge.to]);
  }
  const describe = (id: string): string => {
    const node = byId.get(id);
    if (!node) return id;
    const extra =
      node.kind === 'param' ? ` = ${String(node.detail['value'])}` : node.md5 ? ` (md5 ${node.md5.slice(0, 8)})` : '';
    return `${node.kind} ${node.label}${extra}`;
  };
  const walk = (id: string, edges: Map<string, string[]>, indent: string, seen: Set<string>): void => {
    for (const next of edges.get(id) ?? []) {
      process.stdout.write(`${indent}${describe(next)}\n`);
      if (!seen.has(next)) {
        seen.add(next);
        walk(next, edges, `${indent}  `, seen);
      }
    }
  };
  if (graph.target) {
    process.stdout.write(`${describe(graph.target)}\nmade from:\n`);
    walk(graph.target, inputs, '  ', new Set());
    process.stdout.write('used by:\n');
    walk(graph.target, outputs, '  ', new Set());
  } else {
    for (const node of graph.nodes.filter((candidate) => candidate.kind === 'stage')) {
      process.stdout.write(
        `${describe(node.id)}\n  reads:  ${(inputs.get(node.id) ?? []).map(describe).join(', ')}\n  writes: ${(outputs.get(node.id) ?? []).map(describe).join(', ')}\n`,
      );
    }
  }
}
