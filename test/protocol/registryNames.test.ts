// The language server knows registered models: the engine's registry writes .cairn/models.json after
// every change, and the built server (over stdio, without SQLite) completes registered names and
// NAME@ALIAS in deployment and experiment specs and warns about an alias or version the registry
// does not have, following the registry as it changes.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CompletionItem, CompletionList, Diagnostic } from 'vscode-languageserver-protocol';
import { Registry, snapshotPath } from '../../server/engine/registry/registry';
import { Store } from '../../server/engine/store';
import { LspClient, messageOf, positionOf } from '../helpers/lspClient';
import { writeLogisticModel } from '../helpers/onnx';
import { makeWorkspace } from '../helpers/workspace';

function withRegistry(root: string, change: (registry: Registry) => void): void {
  const store = Store.open(root);
  try {
    change(new Registry(store, root));
  } finally {
    store.close();
  }
}

const DEPLOYMENT = `name: churn-api
model: churn@champion
rollout:
  strategy: canary
  candidate: churn@challenger
fallback:
  model: churn:7
`;

function registryProblems(diagnostics: Diagnostic[]): string[] {
  return diagnostics
    .filter((diagnostic) => String(diagnostic.code).startsWith('model-'))
    .map((diagnostic) => `${diagnostic.range.start.line}: ${messageOf(diagnostic)}`);
}

function labels(result: CompletionList | CompletionItem[] | null): string[] {
  const items = Array.isArray(result) ? result : (result?.items ?? []);
  return items.map((item) => item.label);
}

describe('language server: registered model names', function () {
  this.timeout(30000);
  let client: LspClient | undefined;

  afterEach(async () => {
    await client?.shutdown();
    client = undefined;
  });

  it('writes the snapshot on every registry change, completes names and aliases, and flags unknown ones', async () => {
    const root = makeWorkspace({ 'pipeline.yaml': 'stages: {}\n' });
    const first = writeLogisticModel(root, 'models/a.onnx', [1, 2]);
    const second = writeLogisticModel(root, 'models/b.onnx', [2, 1]);
    withRegistry(root, (registry) => {
      registry.register({ name: 'churn', onnxPath: first });
      registry.register({ name: 'churn', onnxPath: second });
      registry.setAlias('churn', 'champion', 2);
    });
    assert.deepEqual(JSON.parse(fs.readFileSync(snapshotPath(root), 'utf8')), {
      models: [{ name: 'churn', versions: [1, 2], aliases: { champion: 2 } }],
    });

    client = new LspClient(root);
    await client.initialize();
    await client.open('churn.deploy.yaml', DEPLOYMENT);
    const diagnostics = await client.waitForDiagnostics('churn.deploy.yaml');
    assert.deepEqual(registryProblems(diagnostics), [
      "4: The registered model 'churn' has no alias 'challenger'. Aliases: 'champion'.",
      "6: The registered model 'churn' has no version '7'. Versions: '1', '2'.",
    ]);

    const text = `${DEPLOYMENT.replace('model: churn@champion', 'model: ')}`;
    await client.change('churn.deploy.yaml', 2, [{ text }]);
    const completion = await client.request<CompletionList | CompletionItem[] | null>(
      'textDocument/completion',
      'churn.deploy.yaml',
      { position: positionOf(text, 'model: ', 'model: '.length) },
    );
    for (const label of ['churn', 'churn@champion', 'churn:1', 'churn:2'])
      assert.ok(labels(completion).includes(label), `completion offers ${label}: ${labels(completion).join(', ')}`);

    // The registry changes: the server reads the new snapshot and the warnings go.
    const third = writeLogisticModel(root, 'models/c.onnx', [3, 1]);
    withRegistry(root, (registry) => {
      registry.setAlias('churn', 'challenger', 1);
      for (let version = 3; version <= 7; version++)
        registry.register({
          name: 'churn',
          onnxPath: writeLogisticModel(root, `models/${version}.onnx`, [version, 1]),
        });
      registry.register({ name: 'churn', onnxPath: third });
    });
    await client.change('churn.deploy.yaml', 3, [{ text: DEPLOYMENT }]);
    await client.connection.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri: client.uri(path.join('.cairn', 'models.json')), type: 2 }],
    });
    await client.waitForDiagnostics('churn.deploy.yaml', (published) => registryProblems(published).length === 0);

    // A misspelt alias gets a suggestion.
    const misspelt = DEPLOYMENT.replace('churn@challenger', 'churn@champoin');
    await client.change('churn.deploy.yaml', 4, [{ text: misspelt }]);
    const flagged = await client.waitForDiagnostics(
      'churn.deploy.yaml',
      (published) => registryProblems(published).length > 0,
    );
    assert.deepEqual(registryProblems(flagged), [
      "4: The registered model 'churn' has no alias 'champoin'. Did you mean 'champion'?",
    ]);
  });

  it('offers registered models where an experiment registers one', async () => {
    const root = makeWorkspace({ 'pipeline.yaml': 'stages: {}\n' });
    withRegistry(root, (registry) => {
      registry.register({ name: 'fraud', onnxPath: writeLogisticModel(root, 'models/f.onnx', [1]) });
      registry.setAlias('fraud', 'staging', 1);
    });
    client = new LspClient(root);
    await client.initialize();
    const text = 'register:\n  model: \n';
    await client.open('tune.experiment.yaml', text);
    const completion = await client.request<CompletionList | CompletionItem[] | null>(
      'textDocument/completion',
      'tune.experiment.yaml',
      { position: positionOf(text, 'model: ', 'model: '.length) },
    );
    assert.ok(labels(completion).includes('fraud'), labels(completion).join(', '));
    assert.ok(labels(completion).includes('fraud@staging'), labels(completion).join(', '));
  });
});
