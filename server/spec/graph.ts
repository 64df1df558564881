// The stage graph across every pipeline of the workspace: which instance produces which path,
// which instances feed which, and the cycles among them.
import * as path from 'node:path';
import type { PipelineModel, ResolvedPath, StageInstance } from './pipeline';

/** An out and the instance that declares it. */
export interface Producer {
  instance: StageInstance;
  out: ResolvedPath;
}

export interface StageGraph {
  /** Exact out path → its producers (more than one is a conflict). */
  producers: Map<string, Producer[]>;
  /** Folder → the producers of the outs inside it, so a dep on a folder counts as produced. */
  outFolders: Map<string, Producer[]>;
  /** Instance → the instances it depends on. */
  upstream: Map<StageInstance, Set<StageInstance>>;
  downstream: Map<StageInstance, Set<StageInstance>>;
  instances: StageInstance[];
}

/** Builds the graph over all pipeline models. */
export function stageGraph(models: readonly PipelineModel[]): StageGraph {
  const producers = new Map<string, Producer[]>();
  const outFolders = new Map<string, Producer[]>();
  const instances: StageInstance[] = [];
  for (const model of models) {
    for (const instance of model.instances) {
      instances.push(instance);
      for (const out of instance.outs) {
        if (out.path === null) continue;
        const producer = { instance, out };
        const list = producers.get(out.path);
        if (list) list.push(producer);
        else producers.set(out.path, [producer]);
        for (
          let folder = path.posix.dirname(out.path);
          folder !== '.' && folder !== '/';
          folder = path.posix.dirname(folder)
        ) {
          const inside = outFolders.get(folder);
          if (inside) inside.push(producer);
          else outFolders.set(folder, [producer]);
        }
      }
    }
  }
  const upstream = new Map<StageInstance, Set<StageInstance>>();
  const downstream = new Map<StageInstance, Set<StageInstance>>();
  for (const instance of instances) {
    upstream.set(instance, new Set());
    if (!downstream.has(instance)) downstream.set(instance, new Set());
  }
  for (const instance of instances) {
    for (const dep of instance.deps) {
      if (dep.path === null) continue;
      for (const producer of producersOf({ producers, outFolders }, dep.path)) {
        if (producer.instance === instance) continue;
        upstream.get(instance)?.add(producer.instance);
        downstream.get(producer.instance)?.add(instance);
      }
    }
  }
  return { producers, outFolders, upstream, downstream, instances };
}

/** The producers of a path: an exact out, an out folder holding it, or outs inside it. */
export function producersOf(graph: Pick<StageGraph, 'producers' | 'outFolders'>, target: string): Producer[] {
  const exact = graph.producers.get(target);
  if (exact) return exact;
  for (let folder = path.posix.dirname(target); folder !== '.' && folder !== '/'; folder = path.posix.dirname(folder)) {
    const holder = graph.producers.get(folder);
    if (holder) return holder;
  }
  return graph.outFolders.get(target) ?? [];
}

/** The cycles of the graph, each as a list of instances in dependency order. */
export function cycles(graph: StageGraph): StageInstance[][] {
  // Tarjan's strongly connected components, iterative so deep pipelines cannot overflow the stack.
  const index = new Map<StageInstance, number>();
  const low = new Map<StageInstance, number>();
  const onStack = new Set<StageInstance>();
  const stack: StageInstance[] = [];
  const found: StageInstance[][] = [];
  let counter = 0;
  for (const start of graph.instances) {
    if (index.has(start)) continue;
    const work: { node: StageInstance; edges: Iterator<StageInstance> }[] = [];
    const visit = (node: StageInstance): void => {
      index.set(node, counter);
      low.set(node, counter);
      counter++;
      stack.push(node);
      onStack.add(node);
      work.push({ node, edges: (graph.upstream.get(node) ?? new Set<StageInstance>()).values() });
    };
    visit(start);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { node: StageInstance; edges: Iterator<StageInstance> };
      const next = frame.edges.next();
      if (!next.done) {
        const target = next.value;
        if (!index.has(target)) visit(target);
        else if (onStack.has(target)) low.set(frame.node, Math.min(low.get(frame.node) ?? 0, index.get(target) ?? 0));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node) ?? 0, low.get(frame.node) ?? 0));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: StageInstance[] = [];
        let member: StageInstance | undefined;
        do {
          member = stack.pop();
          if (member) {
            onStack.delete(member);
            component.push(member);
          }
        } while (member && member !== frame.node);
        if (component.length > 1) found.push(component.reverse());
      }
    }
  }
  return found;
}
