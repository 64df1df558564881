// Hover: schema docs on keys; the resolved value and its source for `${...}`; a summary of a
// stage (cmd, deps, outs, upstream, downstream); what produces or consumes a path.
import * as path from 'node:path';
import { MarkupKind } from 'vscode-languageserver/node';
import type { Hover, HoverParams } from 'vscode-languageserver/node';
import { lookup, renderValue } from '../spec/interpolate';
import { definitionOf } from '../spec/pipeline';
import type { PipelineModel, StageDefinition } from '../spec/pipeline';
import { producersOf } from '../spec/graph';
import { propertiesOf, resolverFor, schemaDocumentation, schemasAt } from '../spec/schemas';
import { LineIndex } from '../spec/text';
import { targetAt } from './locate';
import type { DocumentState, Session } from './session';

export function hover(session: Session, params: HoverParams): Hover | null {
  const state = session.document(params.textDocument.uri);
  if (!state) return null;
  const offset = state.offset(params.position);
  const target = targetAt(state, offset);
  const markdown = (value: string, start: number, end: number): Hover => ({
    contents: { kind: MarkupKind.Markdown, value },
    range: state.lines.range(start, end),
  });
  const range = (node: { range?: [number, number, number] | null }): [number, number] => [
    node.range?.[0] ?? offset,
    node.range?.[1] ?? offset,
  ];
  switch (target.kind) {
    case 'interpolation':
      return markdown(interpolationHover(state, target.model, target.expression), target.start, target.end);
    case 'stage':
      return markdown(stageSummary(state, target.model, target.definition), ...range(target.node));
    case 'path': {
      const lines = pathHover(state, target.model, target.definition, target.entry.raw);
      return markdown(lines, ...range(target.entry.node));
    }
    case 'param': {
      const folder =
        target.model.instances.find((instance) => instance.definition === target.definition)?.wdir ??
        target.model.folder;
      const file = path.posix.join(folder, target.file ?? 'params.yaml');
      const data = state.analyzer.workspace.dataFile(state.analyzer.workspace.absolute(file));
      const found = data && target.key ? lookup(data.value as Record<string, unknown>, target.key) : null;
      const text = found?.found
        ? `**${target.key}** = \`${renderValue(found.value)}\`\n\nfrom ${file}`
        : `**${target.key}** is not in ${file}`;
      return markdown(text, ...range(target.node));
    }
    case 'schema-key': {
      const resolver = state.kind ? resolverFor(state.kind) : null;
      if (!resolver) return null;
      const keys = target.keys;
      const name = keys[keys.length - 1];
      const schemas = schemasAt(resolver, keys.slice(0, -1));
      const schema = typeof name === 'string' ? propertiesOf(resolver, schemas).get(name) : undefined;
      const documentation = schema ? schemaDocumentation(schema) : '';
      return documentation ? markdown(`**${String(name)}**\n\n${documentation}`, ...range(target.node)) : null;
    }
    case 'reference':
      if (target.role === 'stage' && target.model) {
        const definition = target.model.definitions.find((candidate) => candidate.name === target.value);
        if (definition) return markdown(stageSummary(state, target.model, definition), ...range(target.node));
      }
      return null;
    default:
      return null;
  }
}

function interpolationHover(state: DocumentState, model: PipelineModel, expression: string): string {
  const found = model.context.lookup(expression);
  const head = expression.split(/[.[]/)[0];
  if (head === 'item' || head === 'key')
    return `\`\${${expression}}\`: the value of the current foreach/matrix iteration.`;
  if (!found.found) return `\`\${${expression}}\` is not defined in params.yaml or vars.`;
  const origin = definitionOf(model, expression);
  let where = '';
  if (origin) {
    const relative = state.analyzer.workspace.relative(origin.source.file);
    const text = state.analyzer.workspace.text(origin.source.file);
    const line =
      origin.node?.range && text !== null ? new LineIndex(text).position(origin.node.range[0]).line + 1 : null;
    where = `\n\nDefined in ${relative}${line !== null ? `, line ${line}` : ''}`;
  }
  const value = found.value;
  const shown =
    value !== null && typeof value === 'object'
      ? `\n\`\`\`json\n${renderValue(value, 600)}\n\`\`\``
      : ` = \`${renderValue(value)}\``;
  return `**${expression}**${shown}${where}`;
}

function stageSummary(state: DocumentState, model: PipelineModel, definition: StageDefinition): string {
  const graph = state.analyzer.graph();
  const instances = model.instances.filter((instance) => instance.definition === definition);
  const upstream = new Set<string>();
  const downstream = new Set<string>();
  for (const instance of instances) {
    for (const other of graph.upstream.get(instance) ?? []) upstream.add(other.name);
    for (const other of graph.downstream.get(instance) ?? []) downstream.add(other.name);
  }
  const list = (values: Iterable<string>): string =>
    [...values]
      .slice(0, 12)
      .map((value) => `\`${value}\``)
      .join(', ') || '—';
  const lines = [
    `**Stage ${definition.name}**${definition.form !== 'plain' ? ` (${definition.form}, ${instances.length} instance${instances.length === 1 ? '' : 's'})` : ''}`,
  ];
  const cmd = definition.cmd.map((node) => String(node.value)).join('\n');
  if (cmd) lines.push('```sh\n' + cmd + '\n```');
  lines.push(`**deps:** ${list(definition.deps.map((entry) => entry.raw))}`);
  lines.push(`**outs:** ${list(definition.outs.map((entry) => entry.raw))}`);
  lines.push(`**upstream:** ${list(upstream)}`);
  lines.push(`**downstream:** ${list(downstream)}`);
  return lines.join('\n\n');
}

function pathHover(state: DocumentState, model: PipelineModel, definition: StageDefinition, raw: string): string {
  const graph = state.analyzer.graph();
  const instance = model.instances.find((candidate) => candidate.definition === definition);
  const resolved = instance
    ? [...instance.deps, ...instance.outs].find((entry) => entry.entry.raw === raw)?.path
    : null;
  if (!resolved) return `\`${raw}\``;
  const producers = producersOf(graph, resolved).map((producer) => producer.instance.name);
  const consumers = graph.instances
    .filter((other) => other.deps.some((dep) => dep.path === resolved))
    .map((other) => other.name);
  const lines = [`\`${resolved}\``];
  if (producers.length) lines.push(`produced by ${producers.map((name) => `\`${name}\``).join(', ')}`);
  else
    lines.push(
      state.analyzer.workspace.exists(state.analyzer.workspace.absolute(resolved))
        ? 'a file in the workspace'
        : 'not produced by any stage, not on disk',
    );
  if (consumers.length)
    lines.push(
      `used by ${consumers
        .slice(0, 12)
        .map((name) => `\`${name}\``)
        .join(', ')}`,
    );
  return lines.join('\n\n');
}
