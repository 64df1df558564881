// Lineage: which stage run made a file, from which inputs (files with their hashes, params values,
// the code version), and who consumed it, walked upstream and downstream over the edges every run
// records. Also the static graph of the specs (for a workspace that has not run yet) and an export
// as OpenLineage run events.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { lockPathFor, readLock } from './lockfile';
import { findEntry, lockPathOf } from './decide';
import { workspaceStages } from './stages';
import type { LineageEdgeRow, Store } from './store';

export interface LineageNode {
  id: string;
  kind: 'file' | 'stage' | 'dataset' | 'param' | 'code';
  label: string;
  path: string | null;
  md5: string | null;
  detail: Record<string, string | number | boolean | null>;
}

export interface LineageGraph {
  target: string | null;
  nodes: LineageNode[];
  edges: { from: string; to: string }[];
}

/** A version of an imported dataset lives under .cairn/data/<name>/v<N>/. */
const DATASET_PATH = /^\.cairn\/data\/([^/]+)\/v(\d+)\//;

class GraphBuilder {
  private readonly nodes = new Map<string, LineageNode>();
  private readonly edges = new Map<string, { from: string; to: string }>();

  node(node: LineageNode): string {
    const existing = this.nodes.get(node.id);
    if (!existing) this.nodes.set(node.id, node);
    else if (existing.md5 === null) existing.md5 = node.md5;
    return node.id;
  }

  edge(from: string, to: string): void {
    this.edges.set(`${from}\n${to}`, { from, to });
  }

  build(target: string | null): LineageGraph {
    return { target, nodes: [...this.nodes.values()], edges: [...this.edges.values()] };
  }
}

function fileNode(name: string, md5: string | null): LineageNode {
  const dataset = DATASET_PATH.exec(name);
  if (dataset)
    return {
      id: `dataset:${dataset[1]}@${dataset[2]}`,
      kind: 'dataset',
      label: `${dataset[1]} v${dataset[2]}`,
      path: name,
      md5,
      detail: { dataset: dataset[1] ?? null, version: Number(dataset[2]) },
    };
  return { id: `file:${name}`, kind: 'file', label: name, path: name, md5, detail: {} };
}

function inputNode(edge: LineageEdgeRow): LineageNode {
  if (edge.kind === 'param')
    return {
      id: `param:${edge.name}`,
      kind: 'param',
      label: edge.name,
      path: edge.name.split(':')[0] ?? null,
      md5: null,
      detail: { value: edge.md5 },
    };
  if (edge.kind === 'code') {
    // Recorded as the commit, with `+dirty` when the work tree had uncommitted changes.
    const [commit = '', dirty] = (edge.md5 ?? '').split('+');
    return {
      id: `code:git:${edge.md5 ?? ''}`,
      kind: 'code',
      label: `git ${commit.slice(0, 10)}${dirty ? ' (uncommitted changes)' : ''}`,
      path: null,
      md5: null,
      detail: { commit, dirty: dirty === 'dirty' },
    };
  }
  return fileNode(edge.name, edge.md5);
}

/** The latest edge that wrote a path: the path itself, or the out folder that holds it. */
function producerOf(store: Store, name: string): LineageEdgeRow | undefined {
  for (let candidate = name; candidate !== '.' && candidate !== ''; candidate = path.posix.dirname(candidate)) {
    const found = store.lineageOf(candidate, 'out')[0];
    if (found) return found;
    if (!candidate.includes('/')) break;
  }
  return undefined;
}

/** The recorded lineage of a workspace-relative path: upstream to its sources, downstream to its consumers. */
export function recordedLineage(store: Store, target: string): LineageGraph | null {
  const normalized = target.split(path.sep).join('/').replace(/^\.\//, '').replace(/\/$/, '');
  const builder = new GraphBuilder();
  const producer = producerOf(store, normalized);
  const producers = producer ? [producer] : [];
  const consumers = store.lineageOf(normalized, 'in');
  if (producers.length === 0 && consumers.length === 0) return null;
  const targetId = builder.node(fileNode(normalized, producers[0]?.md5 ?? consumers[0]?.md5 ?? null));
  const stageNode = (edge: LineageEdgeRow): string =>
    builder.node({
      id: `stage:${edge.stage}`,
      kind: 'stage',
      label: edge.stage,
      path: null,
      md5: null,
      detail: { run: edge.run_id, at: new Date(edge.created_at).toISOString() },
    });
  // Upstream: the latest run that wrote each file, then that run's inputs, recursively.
  const seenUp = new Set<string>();
  const up = (name: string, depth: number): void => {
    if (seenUp.has(name) || depth > 200) return;
    seenUp.add(name);
    const producer = producerOf(store, name);
    if (!producer) return;
    const stageId = stageNode(producer);
    builder.edge(stageId, builder.node(fileNode(name, producer.md5)));
    for (const edge of store.lineageOfStageRun(producer.run_id, producer.stage)) {
      if (edge.direction !== 'in') continue;
      builder.edge(builder.node(inputNode(edge)), stageId);
      if (edge.kind === 'file') up(edge.name, depth + 1);
    }
  };
  up(normalized, 0);
  // Downstream: the latest run of each stage that read the file, its outs, recursively.
  const seenDown = new Set<string>();
  const down = (name: string, depth: number): void => {
    if (seenDown.has(name) || depth > 200) return;
    seenDown.add(name);
    const latestPerStage = new Map<string, LineageEdgeRow>();
    for (const edge of store.lineageOf(name, 'in'))
      if (!latestPerStage.has(edge.stage)) latestPerStage.set(edge.stage, edge);
    for (const edge of latestPerStage.values()) {
      const stageId = stageNode(edge);
      builder.edge(builder.node(fileNode(name, edge.md5)), stageId);
      for (const out of store.lineageOfStageRun(edge.run_id, edge.stage)) {
        if (out.direction !== 'out') continue;
        builder.edge(stageId, builder.node(fileNode(out.name, out.md5)));
        down(out.name, depth + 1);
      }
    }
  };
  down(normalized, 0);
  return builder.build(targetId);
}

/**
 * The lineage of an imported dataset version: the version, the source it was imported from and,
 * when a stage produced that source, everything upstream of it.
 */
export function datasetLineage(store: Store, dataset: string, version: number): LineageGraph | null {
  const row = store.datasetVersion(dataset, version);
  if (!row) return null;
  const source = row.source.replace(/^[a-z]+:/, '');
  const upstream = recordedLineage(store, source);
  const builder = new GraphBuilder();
  for (const node of upstream?.nodes ?? []) builder.node(node);
  for (const edge of upstream?.edges ?? []) builder.edge(edge.from, edge.to);
  const id = builder.node({
    id: `dataset:${dataset}@${version}`,
    kind: 'dataset',
    label: `${dataset} v${version}`,
    path: row.path,
    md5: row.md5,
    detail: { rows: row.rows, size: row.size, source: row.source, created: new Date(row.created_at).toISOString() },
  });
  builder.edge(builder.node(fileNode(source, null)), id);
  return builder.build(id);
}

/** The graph the specs declare (stages, their deps and outs), with hashes from the lock files. */
export function declaredLineage(root: string): LineageGraph {
  const loaded = workspaceStages(root);
  const builder = new GraphBuilder();
  for (const stage of loaded.stages) {
    const lock = readLock(lockPathFor(stage.pipelineFile)).stages[stage.name];
    const stageId = builder.node({
      id: `stage:${stage.address}`,
      kind: 'stage',
      label: stage.address,
      path: path.relative(root, stage.pipelineFile).split(path.sep).join('/'),
      md5: null,
      detail: { cmd: Array.isArray(stage.cmd) ? stage.cmd.join(' && ') : stage.cmd, line: stage.line + 1 },
    });
    for (const dep of stage.deps) {
      const md5 = findEntry(lock?.deps, lockPathOf(stage, root, dep))?.md5 ?? null;
      builder.edge(builder.node(fileNode(dep, md5)), stageId);
    }
    for (const [file, values] of Object.entries(stage.params)) {
      const paramsFile = path.relative(root, path.join(stage.cwd, file)).split(path.sep).join('/');
      for (const [key, value] of Object.entries(values)) {
        const id = builder.node({
          id: `param:${paramsFile}:${key}`,
          kind: 'param',
          label: `${key}`,
          path: paramsFile,
          md5: null,
          detail: { value: JSON.stringify(value) },
        });
        builder.edge(id, stageId);
      }
    }
    for (const out of stage.outs) {
      const md5 = findEntry(lock?.outs, lockPathOf(stage, root, out.path))?.md5 ?? null;
      builder.edge(stageId, builder.node(fileNode(out.path, md5)));
    }
  }
  return builder.build(null);
}

/** OpenLineage run events (a START and a COMPLETE per recorded stage run), one JSON object per line. */
export function openLineageEvents(store: Store, root: string): string[] {
  const namespace = `file://${root}`;
  const byRun = new Map<string, LineageEdgeRow[]>();
  for (const edge of store.allLineage()) {
    const key = `${edge.run_id}\n${edge.stage}`;
    const list = byRun.get(key);
    if (list) list.push(edge);
    else byRun.set(key, [edge]);
  }
  const lines: string[] = [];
  for (const edges of byRun.values()) {
    const first = edges[0] as LineageEdgeRow;
    const stageRun = store.stageRuns(first.run_id).find((row) => row.stage === first.stage);
    const runId = uuidFrom(`${first.run_id}/${first.stage}`);
    const job = { namespace: `cairn://${path.basename(root)}`, name: first.stage };
    const dataset = (edge: LineageEdgeRow): Record<string, unknown> => ({
      namespace,
      name: edge.name,
      facets: edge.md5 ? { version: { _producer: PRODUCER, _schemaURL: VERSION_FACET, datasetVersion: edge.md5 } } : {},
    });
    const inputs = edges.filter((edge) => edge.direction === 'in' && edge.kind === 'file').map(dataset);
    const outputs = edges.filter((edge) => edge.direction === 'out').map(dataset);
    const started = stageRun?.started_at ?? first.created_at;
    const ended = stageRun?.ended_at ?? first.created_at;
    const base = { producer: PRODUCER, schemaURL: RUN_EVENT, job, inputs, outputs };
    lines.push(
      JSON.stringify({ eventType: 'START', eventTime: new Date(started).toISOString(), run: { runId }, ...base }),
    );
    lines.push(
      JSON.stringify({ eventType: 'COMPLETE', eventTime: new Date(ended).toISOString(), run: { runId }, ...base }),
    );
  }
  return lines;
}

const PRODUCER = 'https://github.com/cairn-ml/cairn';
const RUN_EVENT = 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent';
const VERSION_FACET = 'https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json';

/** A stable UUID (version 4 layout) derived from a string, as OpenLineage wants run ids to be UUIDs. */
function uuidFrom(text: string): string {
  const hex = createHash('sha256').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${((parseInt(hex[16] ?? '0', 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
