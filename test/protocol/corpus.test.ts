// The language server over the whole corpus of real DVC pipelines (../shared/corpus/dvc), each
// laid out at its path in its repository: no false errors, and the real mistakes named.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Diagnostic } from 'vscode-languageserver-protocol';
import { URI } from 'vscode-uri';
import { layOutCorpus } from '../helpers/corpus';
import { LspClient, messageOf } from '../helpers/lspClient';

/** Warnings that come from files the corpus does not include (scripts, data, other params files). */
const ABSENT_FILE_CODES = new Set(['dep-missing', 'params-file-missing', 'vars-file-missing']);

/** The real mistakes in the corpus (see SOURCES.md): the errors expected and what they must say. */
const MISTAKES: Record<string, { errors: string[]; warnings?: string[] }> = {
  '33': { errors: ["schema-legacy: 'live' is the old DVCLive stage section"] },
  '34': {
    errors: [
      "schema-legacy: 'checkpoint' outputs were removed in DVC 3",
      "schema-legacy: 'live' is the old DVCLive stage section",
    ],
  },
  '35': { errors: ['yaml-tab: rejects tabs outside quoted strings'] },
  '31': { errors: [], warnings: ["dep-missing: 'results.csv' is not produced by any stage"] },
  '36': {
    errors: [],
    warnings: [
      "dep-missing: as if written from the repository root, but DVC resolves them from models/; if this one is too, write '../scripts/compress_model.py'",
    ],
  },
  '37': {
    errors: [],
    warnings: ['dep-missing: Paths here are relative to models/, so this looks for models/models/train.py'],
  },
  '38': {
    errors: [],
    warnings: [
      "dep-missing: 'pipeline/src/fetch_har.py' is not produced",
      "dep-missing: 'pipeline/data/raw/UCI_HAR_Dataset' is not produced by any stage",
    ],
  },
};

describe('the server over the DVC corpus', function () {
  this.timeout(60000);
  const entries = layOutCorpus();
  let client: LspClient;
  const results = new Map<string, Diagnostic[]>();

  before(async () => {
    // One server for all of them, each repository a workspace folder, as in a multi-root window.
    client = new LspClient(fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-corpus-root-')));
    const folders = entries.map((entry) => ({ uri: URI.file(entry.root).toString(), name: entry.id }));
    await client.connection.sendRequest('initialize', {
      processId: process.pid,
      rootUri: null,
      workspaceFolders: folders,
      capabilities: {},
    });
    await client.connection.sendNotification('initialized', {});
    for (const entry of entries) {
      const uri = URI.file(entry.pipeline).toString();
      const relative = path.relative(client.root, entry.pipeline);
      const waiting = client.waitForDiagnostics(relative);
      await client.connection.sendNotification('textDocument/didOpen', {
        textDocument: { uri, languageId: 'yaml', version: 1, text: fs.readFileSync(entry.pipeline, 'utf8') },
      });
      results.set(entry.id, await waiting);
    }
  });

  after(async () => {
    await client.shutdown();
  });

  it('has all 40 pipelines', () => assert.equal(entries.length, 40));

  for (const id of fs
    .readdirSync(path.resolve(__dirname, '../../../shared/corpus/dvc'))
    .filter((name) => /^\d\d-/.test(name))
    .sort()) {
    const number = id.slice(0, 2);
    const mistakes = MISTAKES[number];
    it(`${id}: ${mistakes?.errors.length ? 'names its mistakes' : 'no false error'}`, () => {
      const diagnostics = results.get(id) ?? [];
      const rendered = diagnostics
        .map(
          (diagnostic) =>
            `${diagnostic.range.start.line + 1}: ${diagnostic.severity === 1 ? 'error' : 'warning'} ${String(diagnostic.code)}: ${messageOf(diagnostic)}`,
        )
        .join('\n');
      const errors = diagnostics
        .filter((diagnostic) => diagnostic.severity === 1)
        .map((diagnostic) => `${String(diagnostic.code)}: ${messageOf(diagnostic)}`);
      const expected = mistakes?.errors ?? [];
      assert.equal(errors.length, expected.length, `errors:\n${rendered}`);
      expected.forEach((piece, index) => {
        const [code = '', text = ''] = piece.split(': ');
        assert.ok(
          errors[index]?.startsWith(`${code}: `) && errors[index]?.includes(piece.slice(code.length + 2)),
          `expected '${piece}', got '${errors[index]}'\n${text}`,
        );
      });
      const warnings = diagnostics.filter((diagnostic) => diagnostic.severity !== 1);
      for (const warning of warnings)
        assert.ok(
          ABSENT_FILE_CODES.has(String(warning.code)),
          `unexpected warning ${String(warning.code)}: ${messageOf(warning)}`,
        );
      for (const piece of mistakes?.warnings ?? []) {
        assert.ok(
          warnings.some(
            (warning) =>
              `${String(warning.code)}: ${messageOf(warning)}`.includes(piece.slice(piece.indexOf(': ') + 2)) &&
              piece.startsWith(String(warning.code)),
          ),
          `expected a warning '${piece}' in:\n${rendered}`,
        );
      }
    });
  }
});
