// Protocol tests: the built server as a child process, spoken to over stdio as an editor does.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type {
  CodeAction,
  CompletionList,
  DocumentSymbol,
  FoldingRange,
  Hover,
  Location,
  SelectionRange,
  SymbolInformation,
  WorkspaceEdit,
} from 'vscode-languageserver-protocol';
import { URI } from 'vscode-uri';
import { LspClient, messageOf, positionOf } from '../helpers/lspClient';

const EXAMPLE = path.resolve(__dirname, '../../examples/iris');

function copyExample(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-lsp-'));
  fs.cpSync(EXAMPLE, root, { recursive: true });
  return root;
}

const BROKEN = `stages:
  train:
    cmd: python3 src/train.py --lr \${train.lrr}
    deps:
    - data/features
    - data/missing.csv
    params:
    - train.momentum
    outs:
    - models/other.onnx
`;

describe('language server over stdio', function () {
  this.timeout(30000);
  let root: string;
  let client: LspClient;
  const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');

  before(async () => {
    root = copyExample();
    fs.writeFileSync(path.join(root, 'broken.pipeline.yaml'), BROKEN);
    client = new LspClient(root);
    const result = (await client.initialize()) as { capabilities: Record<string, unknown> };
    assert.ok(result.capabilities['completionProvider'] && result.capabilities['renameProvider']);
  });

  after(async () => {
    await client.shutdown();
  });

  it('publishes diagnostics on open, with plain messages and suggestions', async () => {
    const waiting = client.waitForDiagnostics('broken.pipeline.yaml');
    await client.open('broken.pipeline.yaml', BROKEN);
    const diagnostics = await waiting;
    const messages = diagnostics.map(messageOf);
    assert.ok(
      messages.some(
        (message) => message.includes("'${train.lrr}' is not defined") && message.includes("Did you mean 'train.lr'?"),
      ),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((message) => message.includes("'data/missing.csv' is not produced by any stage")),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((message) => message.includes("The param 'train.momentum' is missing from params.yaml")),
      messages.join('\n'),
    );
    const reference = diagnostics.find((diagnostic) => diagnostic.code === 'ref-undefined');
    assert.deepEqual(reference?.range, {
      start: positionOf(BROKEN, 'train.lrr'),
      end: positionOf(BROKEN, 'train.lrr', 9),
    });
  });

  it('offers quick fixes: the suggested name, a stage for a missing dep, a missing param', async () => {
    const diagnostics = await (async () => {
      const waiting = client.waitForDiagnostics('broken.pipeline.yaml');
      await client.change('broken.pipeline.yaml', 2, [{ text: BROKEN }]);
      return waiting;
    })();
    const actions = await client.request<CodeAction[]>('textDocument/codeAction', 'broken.pipeline.yaml', {
      range: { start: { line: 0, character: 0 }, end: { line: 11, character: 0 } },
      context: { diagnostics },
    });
    const titles = actions.map((action) => action.title);
    assert.ok(titles.includes("Change to 'train.lr'"), titles.join('\n'));
    assert.ok(
      titles.some((title) => title.startsWith("Add a stage 'make_missing' that outputs data/missing.csv")),
      titles.join('\n'),
    );
    const addParam = actions.find((action) => action.title === "Add 'train.momentum' to params.yaml");
    assert.ok(addParam, titles.join('\n'));
    const edits = addParam.edit?.changes?.[client.uri('params.yaml')] ?? [];
    assert.equal(edits.length, 1);
    assert.match(edits[0]?.newText ?? '', /^\n {2}momentum: null/);
    assert.equal(edits[0]?.range.start.line, 8, 'inserted after the last key under train:');
  });

  it('re-validates a pipeline when params.yaml changes', async () => {
    const params = read('params.yaml');
    await client.open('params.yaml', params);
    const cleared = client.waitForDiagnostics(
      'broken.pipeline.yaml',
      (diagnostics) => !diagnostics.some((diagnostic) => messageOf(diagnostic).includes('train.momentum')),
    );
    await client.change('params.yaml', 2, [{ text: params.replace('  l2: 0.001', '  l2: 0.001\n  momentum: 0.9') }]);
    await cleared;
  });

  it('clears a missing-file warning when the file is created', async () => {
    const cleared = client.waitForDiagnostics(
      'broken.pipeline.yaml',
      (diagnostics) => !diagnostics.some((diagnostic) => messageOf(diagnostic).includes('data/missing.csv')),
    );
    fs.writeFileSync(path.join(root, 'data/missing.csv'), 'a\n1\n');
    await client.connection.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri: client.uri('data/missing.csv'), type: 1 }],
    });
    await cleared;
  });

  it('completes schema keys with their documentation', async () => {
    const text = read('pipeline.yaml').replace('  featurize:\n', '  featurize:\n    \n');
    await client.open('pipeline.yaml', text);
    const position = positionOf(text, '  featurize:\n    \n', 17);
    const list = await client.request<CompletionList>('textDocument/completion', 'pipeline.yaml', { position });
    const labels = list.items.map((item) => item.label);
    for (const key of ['wdir', 'frozen', 'always_changed', 'desc']) assert.ok(labels.includes(key), labels.join(', '));
    assert.ok(!labels.includes('cmd'), 'keys already present are not offered');
    const frozen = list.items.find((item) => item.label === 'frozen');
    assert.ok(JSON.stringify(frozen?.documentation).length > 20);
  });

  it('completes stage names in an experiment', async () => {
    const text = `${read('iris.experiment.yaml')}holdout:\n  stage: \n`;
    await client.open('iris.experiment.yaml', text);
    const list = await client.request<CompletionList>('textDocument/completion', 'iris.experiment.yaml', {
      position: positionOf(text, 'stage: \n', 7),
    });
    const labels = list.items.map((item) => item.label);
    assert.deepEqual([...labels].sort(), ['evaluate', 'featurize', 'prepare', 'train']);
  });

  it('completes params keys inside ${ and in a stage params list', async () => {
    const text = read('pipeline.yaml').replace('--l2 ${train.l2}', '--l2 ${train.');
    await client.change('pipeline.yaml', 3, [{ text }]);
    const list = await client.request<CompletionList>('textDocument/completion', 'pipeline.yaml', {
      position: positionOf(text, '--l2 ${train.', 13),
    });
    const labels = list.items.map((item) => item.label);
    assert.ok(labels.includes('train.lr') && labels.includes('prepare.seed'), labels.join(', '));
    assert.equal(list.items.find((item) => item.label === 'train.lr')?.detail, '0.5');
    const paramsText = read('pipeline.yaml').replace(
      '      - featurize.standardize\n',
      '      - featurize.standardize\n      - \n',
    );
    await client.change('pipeline.yaml', 4, [{ text: paramsText }]);
    const params = await client.request<CompletionList>('textDocument/completion', 'pipeline.yaml', {
      position: positionOf(paramsText, 'standardize\n      - \n', 20),
    });
    assert.ok(
      params.items.some((item) => item.label === 'train.epochs'),
      params.items.map((item) => item.label).join(', '),
    );
    await client.change('pipeline.yaml', 5, [{ text: read('pipeline.yaml') }]);
  });

  it('hovers a param with its value and where it is defined, and a stage with its neighbours', async () => {
    const text = read('pipeline.yaml');
    const hover = await client.request<Hover>('textDocument/hover', 'pipeline.yaml', {
      position: positionOf(text, '${train.lr}', 4),
    });
    const value = JSON.stringify(hover.contents);
    assert.ok(value.includes('0.5') && value.includes('params.yaml') && value.includes('line 7'), value);
    const stage = await client.request<Hover>('textDocument/hover', 'pipeline.yaml', {
      position: positionOf(text, '  train:', 3),
    });
    const summary = JSON.stringify(stage.contents);
    assert.ok(summary.includes('upstream:** `featurize`') && summary.includes('downstream:** `evaluate`'), summary);
    const key = await client.request<Hover>('textDocument/hover', 'pipeline.yaml', {
      position: positionOf(text, '    cmd:', 5),
    });
    assert.ok(JSON.stringify(key.contents).length > 40);
  });

  it('goes to definitions: a param, a dep, a stage named in an experiment', async () => {
    const text = read('pipeline.yaml');
    const param = await client.request<Location[]>('textDocument/definition', 'pipeline.yaml', {
      position: positionOf(text, '${train.lr}', 9),
    });
    assert.equal(param[0]?.uri, client.uri('params.yaml'));
    assert.equal(param[0]?.range.start.line, 6);
    const dep = await client.request<Location[]>('textDocument/definition', 'pipeline.yaml', {
      position: positionOf(text, '      - models/model.onnx\n      - src/evaluate.py', 10),
    });
    assert.equal(dep[0]?.uri, client.uri('pipeline.yaml'));
    assert.equal(dep[0]?.range.start.line, positionOf(text, '      - models/model.onnx').line);
    const experiment = read('iris.experiment.yaml');
    await client.change('iris.experiment.yaml', 2, [{ text: experiment }]);
    const stage = await client.request<Location[]>('textDocument/definition', 'iris.experiment.yaml', {
      position: positionOf(experiment, 'stage: evaluate', 9),
    });
    assert.equal(stage[0]?.range.start.line, positionOf(text, '  evaluate:').line);
  });

  it('finds who consumes a stage and who uses a param', async () => {
    const text = read('pipeline.yaml');
    const consumers = await client.request<Location[]>('textDocument/references', 'pipeline.yaml', {
      position: positionOf(text, '  featurize:', 4),
      context: { includeDeclaration: false },
    });
    const lines = consumers
      .filter((location) => location.uri === client.uri('pipeline.yaml'))
      .map((location) => location.range.start.line)
      .sort((a, b) => a - b);
    assert.ok(
      consumers.some((location) => location.uri === client.uri('broken.pipeline.yaml')),
      'consumers in other pipelines count too',
    );
    assert.deepEqual(lines, [positionOf(text, '      - data/features\n      - src/train.py').line]);
    const users = await client.request<Location[]>('textDocument/references', 'pipeline.yaml', {
      position: positionOf(text, '${train.lr}', 9),
      context: { includeDeclaration: true },
    });
    const files = new Set(users.map((location) => path.basename(URI.parse(location.uri).fsPath)));
    assert.deepEqual([...files].sort(), ['iris.experiment.yaml', 'params.yaml', 'pipeline.yaml']);
  });

  it('renames a stage and a param key across files', async () => {
    const text = read('pipeline.yaml');
    const stageEdit = await client.request<WorkspaceEdit>('textDocument/rename', 'pipeline.yaml', {
      position: positionOf(text, '  train:', 3),
      newName: 'fit',
    });
    const pipelineEdits = stageEdit.changes?.[client.uri('pipeline.yaml')] ?? [];
    assert.equal(pipelineEdits.length, 2, 'the stage key and models.iris-classifier.stage');
    assert.ok(pipelineEdits.every((edit) => edit.newText === 'fit'));
    const paramEdit = await client.request<WorkspaceEdit>('textDocument/rename', 'pipeline.yaml', {
      position: positionOf(text, '${train.lr}', 9),
      newName: 'learning_rate',
    });
    const changed = Object.keys(paramEdit.changes ?? {})
      .map((uri) => path.basename(URI.parse(uri).fsPath))
      .sort();
    assert.deepEqual(changed, ['iris.experiment.yaml', 'params.yaml', 'pipeline.yaml']);
    const paramsEdits = paramEdit.changes?.[client.uri('params.yaml')] ?? [];
    assert.deepEqual(paramsEdits[0]?.range, { start: { line: 6, character: 2 }, end: { line: 6, character: 4 } });
  });

  it('lists document and workspace symbols, folding and selection ranges', async () => {
    const symbols = await client.request<DocumentSymbol[]>('textDocument/documentSymbol', 'pipeline.yaml', {});
    const stages = symbols.find((symbol) => symbol.name === 'stages');
    assert.deepEqual(
      stages?.children?.map((child) => child.name),
      ['prepare', 'featurize', 'train', 'evaluate'],
    );
    assert.ok(symbols.some((symbol) => symbol.name === 'datasets' && symbol.children?.[0]?.name === 'iris'));
    const found = await client.connection.sendRequest<SymbolInformation[]>('workspace/symbol', { query: 'feat' });
    assert.ok(found.some((symbol) => symbol.name === 'featurize'));
    const folding = await client.request<FoldingRange[]>('textDocument/foldingRange', 'pipeline.yaml', {});
    assert.ok(folding.some((range) => range.startLine === positionOf(read('pipeline.yaml'), 'stages:').line));
    const selection = await client.request<SelectionRange[]>('textDocument/selectionRange', 'pipeline.yaml', {
      positions: [positionOf(read('pipeline.yaml'), 'src/train.py', 4)],
    });
    let depth = 0;
    for (let range: SelectionRange | undefined = selection[0]; range; range = range.parent) depth++;
    assert.ok(depth >= 4, `selection grows through the tree (${depth} levels)`);
  });

  it('answers every request on a document that is not YAML at all', async () => {
    const garbage = '\u0000\t{[}: - - ::\n\t\t"unterminated\n&a *a *b <<: {\n';
    const waiting = client.waitForDiagnostics('garbage.pipeline.yaml');
    await client.open('garbage.pipeline.yaml', garbage);
    assert.ok((await waiting).length > 0);
    for (const method of [
      'textDocument/hover',
      'textDocument/completion',
      'textDocument/definition',
      'textDocument/documentSymbol',
      'textDocument/foldingRange',
    ]) {
      await client.request(method, 'garbage.pipeline.yaml', { position: { line: 1, character: 3 } });
    }
  });
});
