// Protocol test of the code lenses: the built server over stdio, as an editor asks for them.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CodeLens } from 'vscode-languageserver-protocol';
import { LspClient } from '../helpers/lspClient';

const PIPELINE = `vars:
  - models: [small, large]
stages:
  prepare:
    cmd: python3 prepare.py
    outs:
      - data/prepared.csv
  train:
    foreach: \${models}
    do:
      cmd: python3 train.py \${item}
      deps:
        - data/prepared.csv
      outs:
        - models/\${item}.onnx
`;

/** A lens as "line: title [arguments]", so one assertion shows the whole picture. */
function describeLens(lens: CodeLens): string {
  return `${lens.range.start.line}: ${lens.command?.title} ${JSON.stringify(lens.command?.arguments ?? [])}`;
}

describe('code lenses over stdio', function () {
  this.timeout(30000);
  let root: string;
  let client: LspClient;

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-lens-'));
    fs.writeFileSync(path.join(root, 'pipeline.yaml'), PIPELINE);
    fs.writeFileSync(path.join(root, 'params.yaml'), 'lr: 0.1\n');
    client = new LspClient(root);
    const result = (await client.initialize()) as { capabilities: Record<string, unknown> };
    assert.deepEqual(result.capabilities['codeLensProvider'], { resolveProvider: false });
  });

  after(async () => {
    await client.shutdown();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('puts "Run pipeline" above stages and "Run stage" / "Show lineage" above each stage key', async () => {
    await client.open('pipeline.yaml', PIPELINE);
    const lenses = await client.request<CodeLens[]>('textDocument/codeLens', 'pipeline.yaml', {});
    const uri = client.uri('pipeline.yaml');
    assert.deepEqual(lenses.map(describeLens), [
      `2: Run pipeline ${JSON.stringify([uri])}`,
      `3: Run stage ${JSON.stringify([uri, 'prepare'])}`,
      `3: Show lineage ${JSON.stringify([uri, 'prepare'])}`,
      // The foreach stage gets its lenses on the definition key, not on each instance.
      `7: Run stage ${JSON.stringify([uri, 'train'])}`,
      `7: Show lineage ${JSON.stringify([uri, 'train'])}`,
    ]);
    assert.deepEqual(lenses[1]?.range, { start: { line: 3, character: 2 }, end: { line: 3, character: 9 } });
  });

  it('puts "Run experiment" and "Open experiments table" above the first key of an experiment', async () => {
    const text = '# tune it\nname: sweep\npipeline: pipeline.yaml\n';
    await client.open('tune.experiment.yaml', text);
    const lenses = await client.request<CodeLens[]>('textDocument/codeLens', 'tune.experiment.yaml', {});
    const uri = client.uri('tune.experiment.yaml');
    assert.deepEqual(lenses.map(describeLens), [
      `1: Run experiment ${JSON.stringify([uri])}`,
      `1: Open experiments table ${JSON.stringify([uri])}`,
    ]);
  });

  it('offers no lenses on a params file', async () => {
    await client.open('params.yaml', 'lr: 0.1\n');
    const lenses = await client.request<CodeLens[] | null>('textDocument/codeLens', 'params.yaml', {});
    assert.ok(lenses === null || lenses.length === 0, JSON.stringify(lenses));
  });
});
