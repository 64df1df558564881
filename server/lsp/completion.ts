// Completion: schema keys and enum values with their docs, stage names, params keys, paths
// relative to the stage's wdir, metric names, model names and aliases, alert names.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMap } from 'yaml';
import { CompletionItemKind, InsertTextFormat, MarkupKind } from 'vscode-languageserver/node';
import type { CompletionItem, CompletionList, CompletionParams } from 'vscode-languageserver/node';
import { flattenKeys, renderValue, lookup } from '../spec/interpolate';
import { mapGet, scalarString } from '../spec/parse';
import type { YamlNode } from '../spec/parse';
import { isRecord } from '../spec/pipeline';
import type { PipelineModel } from '../spec/pipeline';
import { declaredEntries, experimentPipelinePath, knownMetrics } from '../spec/references';
import { propertiesOf, resolverFor, schemaDocumentation, schemasAt } from '../spec/schemas';
import type { SchemaObject } from '../spec/schemaValidate';
import { joinPath } from '../spec/workspace';
import { cursorContext } from './cursor';
import type { CursorContext } from './cursor';
import { roleAt } from './roles';
import type { DocumentState, Session } from './session';

/** At most this many items are returned; the list is marked incomplete past it. */
const MAX_ITEMS = 500;

export function completion(session: Session, params: CompletionParams): CompletionList | null {
  const state = session.document(params.textDocument.uri);
  if (!state || !state.kind) return null;
  const offset = state.offset(params.position);
  const cursor = cursorContext(state.lines, offset);
  const range = state.lines.range(cursor.tokenStart, offset);
  let items: CompletionItem[];
  if (cursor.interpolation !== null) items = interpolationItems(state, cursor);
  else {
    const role = roleAt(state.kind, cursor.path, cursor.slot === 'value' ? cursor.key : null);
    if (role === 'param-key' && cursor.slot === 'key') items = paramKeyItems(state, cursor);
    else if (cursor.slot === 'key') items = keyItems(state, cursor);
    else items = role ? roleItems(state, cursor, role) : valueItems(state, cursor);
    // A list item may also be the first key of a mapping inside the list (`- metric: auc`).
    if (cursor.slot === 'item' && items.length === 0) items = keyItems(state, cursor);
  }
  const incomplete = items.length > MAX_ITEMS;
  for (const item of items) if (!item.textEdit) item.textEdit = { range, newText: item.insertText ?? item.label };
  return { isIncomplete: incomplete, items: items.slice(0, MAX_ITEMS) };
}

/** The mapping that holds the cursor, read from the parse, to leave out keys already present. */
function containerNode(state: DocumentState, keys: readonly (string | number)[]): YamlNode | null {
  let node: YamlNode | null = state.parsed?.root ?? null;
  for (const key of keys) {
    if (typeof key === 'number') return null;
    node = mapGet(node, key);
  }
  return node;
}

function keyItems(state: DocumentState, cursor: CursorContext): CompletionItem[] {
  const resolver = state.kind ? resolverFor(state.kind) : null;
  if (!resolver) return [];
  const schemas = schemasAt(resolver, cursor.path);
  const present = new Set<string>();
  const container = containerNode(state, cursor.path);
  if (isMap(container)) for (const pair of container.items) present.add(String(scalarString(pair.key) ?? ''));
  const items: CompletionItem[] = [];
  for (const [name, schema] of propertiesOf(resolver, schemas)) {
    if (present.has(name) && name !== cursor.prefix) continue;
    items.push({
      label: name,
      kind: CompletionItemKind.Property,
      detail: typeLabel(schema),
      documentation: { kind: MarkupKind.Markdown, value: schemaDocumentation(schema) },
      insertText: keyInsertText(name, schema, cursor.column),
      insertTextFormat: InsertTextFormat.Snippet,
      sortText: schema.deprecated ? `z${name}` : name,
    });
  }
  return items;
}

function typeLabel(schema: SchemaObject): string {
  if (schema.enum) return schema.enum.map(String).join(' | ');
  if (Array.isArray(schema.type)) return schema.type.join(' | ');
  if (schema.type) return schema.type;
  if (schema.oneOf || schema.anyOf) return 'one of several forms';
  return '';
}

function keyInsertText(name: string, schema: SchemaObject, column: number): string {
  const indent = ' '.repeat(column);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === 'object') return `${name}:\n${indent}  $0`;
  if (type === 'array') return `${name}:\n${indent}- $0`;
  return `${name}: $0`;
}

function valueItems(state: DocumentState, cursor: CursorContext): CompletionItem[] {
  const resolver = state.kind ? resolverFor(state.kind) : null;
  if (!resolver) return [];
  const keys = cursor.slot === 'value' && cursor.key !== null ? [...cursor.path, cursor.key] : cursor.path;
  const items: CompletionItem[] = [];
  const seen = new Set<string>();
  for (const schema of schemasAt(resolver, keys)) {
    const values =
      schema.enum ?? (schema.const !== undefined ? [schema.const] : schema.type === 'boolean' ? [true, false] : []);
    for (const value of values) {
      const label = String(value);
      if (seen.has(label)) continue;
      seen.add(label);
      items.push({
        label,
        kind: CompletionItemKind.EnumMember,
        documentation: { kind: MarkupKind.Markdown, value: schemaDocumentation(schema) },
      });
    }
  }
  return items;
}

function interpolationItems(state: DocumentState, cursor: CursorContext): CompletionItem[] {
  const model = pipelineOf(state);
  if (!model) return [];
  const stage = stageInstanceAt(model, cursor.path);
  const context = (stage?.context ?? model.context).merged();
  const items: CompletionItem[] = [];
  for (const key of flattenKeys(context)) {
    const found = lookup(context, key);
    const value = found.found ? found.value : undefined;
    items.push({
      label: key,
      kind: isRecord(value) || Array.isArray(value) ? CompletionItemKind.Module : CompletionItemKind.Variable,
      detail: renderValue(value, 80),
    });
  }
  return items;
}

function paramKeyItems(state: DocumentState, cursor: CursorContext): CompletionItem[] {
  const target = experimentPipelinePath(state.analyzer.workspace, state.file, state.parsed?.root ?? null);
  const folder = path.posix.dirname(target.path);
  const params = state.analyzer.workspace.dataFile(state.analyzer.workspace.absolute(joinPath(folder, 'params.yaml')));
  if (!params) return [];
  return flattenKeys(params.value).map((key) => {
    const found = lookup(params.value as Record<string, unknown>, key);
    return {
      label: key,
      kind: CompletionItemKind.Variable,
      detail: found.found ? renderValue(found.value, 80) : '',
      insertText: `${key}:\n${' '.repeat(cursor.column)}  `,
    };
  });
}

function pipelineOf(state: DocumentState): PipelineModel | null {
  if (state.kind === 'pipeline') return state.analyzer.model(state.file);
  if (state.kind === 'experiment')
    return state.analyzer.pipelineAt(
      experimentPipelinePath(state.analyzer.workspace, state.file, state.parsed?.root ?? null).path,
    );
  return null;
}

function stageInstanceAt(
  model: PipelineModel,
  keys: readonly (string | number)[],
): PipelineModel['instances'][number] | null {
  if (keys[0] !== 'stages' || typeof keys[1] !== 'string') return null;
  return model.instances.find((instance) => instance.definition.name === keys[1]) ?? null;
}

function roleItems(
  state: DocumentState,
  cursor: CursorContext,
  role: NonNullable<ReturnType<typeof roleAt>>,
): CompletionItem[] {
  const workspace = state.analyzer.workspace;
  const model = pipelineOf(state);
  const specFolder = workspace.relative(path.dirname(state.file));
  switch (role) {
    case 'stage':
      return (model?.definitions ?? []).map((definition) => ({
        label: definition.name,
        kind: CompletionItemKind.Function,
        detail: `stage in ${workspace.relative(model?.file ?? '')}`,
        documentation: definition.cmd.map((cmd) => String(cmd.value)).join('\n'),
      }));
    case 'param': {
      const instance = model ? stageInstanceAt(model, cursor.path) : null;
      const folder = instance?.wdir ?? specFolder;
      const data = workspace.dataFile(workspace.absolute(joinPath(folder, 'params.yaml')));
      if (!data) return [];
      return flattenKeys(data.value).map((key) => {
        const found = lookup(data.value as Record<string, unknown>, key);
        return {
          label: key,
          kind: CompletionItemKind.Variable,
          detail: found.found ? renderValue(found.value, 80) : '',
        };
      });
    }
    case 'dep': {
      const instance = model ? stageInstanceAt(model, cursor.path) : null;
      const wdir = instance?.wdir ?? specFolder;
      const items: CompletionItem[] = [];
      for (const other of state.analyzer.graph().instances) {
        if (other === instance) continue;
        for (const out of other.outs) {
          if (out.path === null) continue;
          items.push({
            label: path.posix.relative(wdir, out.path) || '.',
            kind: CompletionItemKind.Reference,
            detail: `output of stage ${other.name}`,
            sortText: `0${out.path}`,
          });
        }
      }
      return [...items, ...fileItems(state, wdir, cursor.prefix, false)];
    }
    case 'out':
      return state.analyzer.graph().instances.flatMap((instance) =>
        instance.outs
          .filter((out) => out.path !== null)
          .map((out) => ({
            label: path.posix.relative(specFolder, out.path as string),
            kind: CompletionItemKind.Reference,
            detail: `output of stage ${instance.name}`,
          })),
      );
    case 'file':
    case 'folder': {
      const instance = model && role === 'file' ? stageInstanceAt(model, cursor.path) : null;
      return fileItems(state, instance?.wdir ?? specFolder, cursor.prefix, role === 'folder');
    }
    case 'pipeline-file':
      return workspace.specs('pipeline').map((file) => ({
        label: path.posix.relative(specFolder, workspace.relative(file)),
        kind: CompletionItemKind.File,
      }));
    case 'experiment-file':
      return workspace.specs('experiment').map((file) => ({
        label: path.posix.relative(specFolder, workspace.relative(file)),
        kind: CompletionItemKind.File,
      }));
    case 'metric': {
      if (!model) return [];
      const seen = new Set<string>();
      return knownMetrics(workspace, model)
        .metrics.filter((metric) => !seen.has(metric.name) && seen.add(metric.name))
        .map((metric) => ({
          label: metric.name,
          kind: CompletionItemKind.Value,
          detail: `${metric.file} (stage ${metric.stage})`,
        }));
    }
    case 'model': {
      const items: CompletionItem[] = [];
      const pipelines = state.analyzer.pipelines();
      for (const entry of declaredEntries(pipelines, 'models')) {
        items.push({
          label: entry.name,
          kind: CompletionItemKind.Class,
          detail: `model declared in ${workspace.relative(entry.file)}`,
        });
        for (const alias of ['champion', 'challenger'])
          items.push({
            label: `${entry.name}@${alias}`,
            kind: CompletionItemKind.Class,
            detail: `the version with alias ${alias}`,
          });
      }
      for (const known of state.analyzer.modelNameProvider?.models() ?? []) {
        items.push({ label: known.name, kind: CompletionItemKind.Class, detail: 'registered model' });
        for (const alias of known.aliases)
          items.push({ label: `${known.name}@${alias}`, kind: CompletionItemKind.Class, detail: `alias ${alias}` });
        for (const version of known.versions)
          items.push({
            label: `${known.name}:${version}`,
            kind: CompletionItemKind.Class,
            detail: `version ${version}`,
          });
      }
      return items;
    }
    case 'dataset':
      return declaredEntries(state.analyzer.pipelines(), 'datasets').map((entry) => ({
        label: entry.name,
        kind: CompletionItemKind.Struct,
        detail: `dataset in ${workspace.relative(entry.file)}`,
      }));
    case 'alert': {
      const alerts = mapGet(mapGet(state.parsed?.root ?? null, 'monitoring'), 'alerts');
      const names: string[] = [];
      if (alerts && 'items' in alerts)
        for (const alert of (alerts as { items: YamlNode[] }).items) {
          const name = scalarString(mapGet(alert, 'name'));
          if (name) names.push(name);
        }
      return names.map((name) => ({ label: name, kind: CompletionItemKind.Event }));
    }
    case 'param-key':
      return [];
  }
}

/** Files and folders under `base` (workspace-relative) for the typed prefix. */
function fileItems(state: DocumentState, base: string, prefix: string, foldersOnly: boolean): CompletionItem[] {
  const workspace = state.analyzer.workspace;
  const slash = prefix.lastIndexOf('/');
  const typedFolder = slash === -1 ? '' : prefix.slice(0, slash + 1);
  const folder = workspace.absolute(joinPath(base, typedFolder || '.'));
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(folder, { withFileTypes: true });
  } catch {
    return [];
  }
  const items: CompletionItem[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.') && !prefix.slice(slash + 1).startsWith('.')) continue;
    if (entry.name === 'node_modules') continue;
    const isFolder = entry.isDirectory();
    if (foldersOnly && !isFolder) continue;
    items.push({
      label: `${typedFolder}${entry.name}${isFolder ? '/' : ''}`,
      kind: isFolder ? CompletionItemKind.Folder : CompletionItemKind.File,
      sortText: `1${entry.name}`,
      ...(isFolder ? { command: { title: 'Suggest', command: 'editor.action.triggerSuggest' } } : {}),
    });
  }
  return items.slice(0, MAX_ITEMS);
}
