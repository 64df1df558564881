// Quick fixes, from the fix data each diagnostic carries: replace a misspelled key or reference,
// add a missing param to params.yaml, create a stage that produces a missing dep, remove a
// duplicate out, create a missing file.
import * as path from 'node:path';
import { isMap, isSeq } from 'yaml';
import { URI } from 'vscode-uri';
import { CodeActionKind } from 'vscode-languageserver/node';
import type { CodeAction, CodeActionParams, Diagnostic, TextEdit, WorkspaceEdit } from 'vscode-languageserver/node';
import { mapGet, mapPair, nodeEnd } from '../spec/parse';
import type { YamlNode } from '../spec/parse';
import type { FixData } from '../spec/problems';
import { LineIndex } from '../spec/text';
import { nodeAt } from './session';
import type { DocumentState, Session } from './session';

export function codeActions(session: Session, params: CodeActionParams): CodeAction[] | null {
  const state = session.document(params.textDocument.uri);
  if (!state) return null;
  const actions: CodeAction[] = [];
  for (const diagnostic of params.context.diagnostics) {
    if (diagnostic.source !== 'cairn' || !diagnostic.data) continue;
    const action = fixAction(state, diagnostic, diagnostic.data as FixData);
    if (action) actions.push(action);
  }
  return actions;
}

function fixAction(state: DocumentState, diagnostic: Diagnostic, fix: FixData): CodeAction | null {
  const edit = (changes: Record<string, TextEdit[]>): WorkspaceEdit => ({ changes });
  const action = (title: string, workspaceEdit: WorkspaceEdit): CodeAction => ({
    title,
    kind: CodeActionKind.QuickFix,
    diagnostics: [diagnostic],
    edit: workspaceEdit,
    isPreferred: true,
  });
  switch (fix.kind) {
    case 'replace':
      return action(
        fix.replacement === '' ? 'Remove the character' : `Change to '${fix.replacement}'`,
        edit({ [state.uri]: [{ range: diagnostic.range, newText: fix.replacement }] }),
      );
    case 'removeItem': {
      const item = nodeAt(state.parsed?.root ?? null, state.offset(diagnostic.range.start));
      const listItem = [...item.path].reverse().find((step) => typeof step.key === 'number');
      const end = listItem?.node
        ? (nodeEnd(listItem.node) ?? state.offset(diagnostic.range.end))
        : state.offset(diagnostic.range.end);
      const endLine = state.lines.lineOf(end);
      const range = {
        start: { line: diagnostic.range.start.line, character: 0 },
        end: { line: endLine + 1, character: 0 },
      };
      return action('Remove this duplicate output', edit({ [state.uri]: [{ range, newText: '' }] }));
    }
    case 'createStage':
      return createStage(state, diagnostic, fix.path, action);
    case 'addParam':
      return addParam(state, fix.paramsFile, fix.key, action);
    case 'createFile': {
      const file = state.analyzer.workspace.absolute(fix.path);
      return {
        title: `Create ${fix.path}`,
        kind: CodeActionKind.QuickFix,
        diagnostics: [diagnostic],
        edit: {
          documentChanges: [{ kind: 'create', uri: URI.file(file).toString(), options: { ignoreIfExists: true } }],
        },
      };
    }
  }
}

function createStage(
  state: DocumentState,
  _diagnostic: Diagnostic,
  target: string,
  action: (title: string, edit: WorkspaceEdit) => CodeAction,
): CodeAction | null {
  const root = state.parsed?.root ?? null;
  const stages = mapPair(root, 'stages');
  const folder = state.analyzer.workspace.relative(path.dirname(state.file));
  const relative = path.posix.relative(folder === '' ? '.' : folder, target) || target;
  const base =
    path.posix
      .basename(target)
      .replace(/\.[^.]+$/, '')
      .replace(/[^\w-]+/g, '_') || 'stage';
  const existing = new Set(
    (isMap(stages?.value) ? stages.value.items : []).map((pair) =>
      String((pair.key as { value?: unknown } | null)?.value ?? ''),
    ),
  );
  let name = `make_${base}`;
  for (let counter = 2; existing.has(name); counter++) name = `make_${base}_${counter}`;
  const eol = state.text.includes('\r\n') ? '\r\n' : '\n';
  const childIndent = stageIndent(state, stages?.value as YamlNode | null);
  const pad = ' '.repeat(childIndent);
  const body = [
    `${pad}${name}:`,
    `${pad}  cmd: echo "TODO: write ${relative}" && exit 1`,
    `${pad}  outs:`,
    `${pad}  - ${relative}`,
  ].join(eol);
  let insertAt: number;
  let newText: string;
  if (stages && isMap(stages.value) && stages.value.items.length > 0) {
    // After the last stage.
    insertAt = endOfLine(state, nodeEnd(stages.value) ?? state.text.length);
    newText = `${eol}${body}`;
  } else if (stages) {
    // `stages:` with nothing under it yet.
    insertAt = endOfLine(state, nodeEnd(stages.key) ?? 0);
    newText = `${eol}${body}`;
  } else {
    insertAt = state.text.length;
    const prefix = state.text.length > 0 && !state.text.endsWith('\n') ? eol : '';
    newText = `${prefix}stages:${eol}${body}${eol}`;
  }
  const position = state.lines.position(insertAt);
  return action(`Add a stage '${name}' that outputs ${relative}`, {
    changes: { [state.uri]: [{ range: { start: position, end: position }, newText }] },
  });
}

function stageIndent(state: DocumentState, stages: YamlNode | null): number {
  if (isMap(stages) && stages.items[0]) {
    const first = stages.items[0].key as { range?: [number, number, number] } | null;
    if (first?.range) return state.lines.position(first.range[0]).character;
  }
  return 2;
}

function endOfLine(state: DocumentState, offset: number): number {
  const line = state.lines.lineOf(Math.max(0, offset - 1));
  return state.lines.lineEnd(line);
}

/** Adds `key` (dotted) to a params file, nested under the deepest part that already exists. */
function addParam(
  state: DocumentState,
  paramsFile: string,
  key: string,
  action: (title: string, edit: WorkspaceEdit) => CodeAction,
): CodeAction | null {
  const workspace = state.analyzer.workspace;
  const file = workspace.absolute(paramsFile);
  const text = workspace.text(file);
  const uri = URI.file(file).toString();
  const parts = key.split('.');
  if (text === null) {
    const lines = parts.map(
      (part, index) => `${'  '.repeat(index)}${part}:${index === parts.length - 1 ? ' null  # TODO: set a value' : ''}`,
    );
    return {
      title: `Create ${paramsFile} with '${key}'`,
      kind: CodeActionKind.QuickFix,
      edit: {
        documentChanges: [
          { kind: 'create', uri, options: { ignoreIfExists: true } },
          {
            textDocument: { uri, version: null },
            edits: [
              {
                range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
                newText: lines.join('\n') + '\n',
              },
            ],
          },
        ],
      },
    };
  }
  const parsed = workspace.parse(file);
  const lines = new LineIndex(text);
  let node: YamlNode | null = parsed?.root ?? null;
  let depth = 0;
  let indent = 0;
  let insertAt: number;
  while (depth < parts.length - 1) {
    const value = mapGet(node, parts[depth] ?? '');
    if (!isMap(value) || value.items.length === 0) break;
    node = value;
    depth++;
  }
  if (depth > 0 && isMap(node)) {
    const first = node.items[0]?.key as { range?: [number, number, number] } | null;
    indent = first?.range ? lines.position(first.range[0]).character : depth * 2;
    const end = nodeEnd(node) ?? text.length;
    insertAt = lines.lineEnd(lines.lineOf(Math.max(0, end - 1)));
  } else if (isSeq(node)) return null;
  else insertAt = text.length;
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const rest = parts.slice(depth);
  const added = rest
    .map(
      (part, index) =>
        `${' '.repeat(indent + index * 2)}${part}:${index === rest.length - 1 ? ' null  # TODO: set a value' : ''}`,
    )
    .join(eol);
  const needsBreak = insertAt === text.length ? (text.length > 0 && !text.endsWith('\n') ? eol : '') : eol;
  const newText = insertAt === text.length ? `${needsBreak}${added}${eol}` : `${eol}${added}`;
  const position = lines.position(insertAt);
  return action(`Add '${key}' to ${paramsFile}`, {
    changes: { [uri]: [{ range: { start: position, end: position }, newText }] },
  });
}
