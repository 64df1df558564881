// Robustness: the server never crashes or hangs. Real and generated specs are mutated (truncation,
// random bytes, deep nesting, huge scalars, alias bombs, tabs, BOM, CRLF, several documents, ...)
// and each is run through every request; each must be answered within a bound, the process must
// stay alive and nothing may be logged as an internal error. A run is deterministic for its seed:
//   CAIRN_FUZZ_SEED=1234 CAIRN_FUZZ_ITERATIONS=500 CAIRN_FUZZ_VERBOSE=1 \
//     npx mocha --no-config -r tsx/cjs --extension ts --timeout 0 test/protocol/fuzz.test.ts
// The documents of every failure are saved under $TMPDIR/cairn-fuzz-<seed>/.
import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ResponseError } from 'vscode-jsonrpc';
import type {
  Diagnostic,
  DocumentSymbol,
  FoldingRange,
  Position,
  Range,
  TextDocumentContentChangeEvent,
} from 'vscode-languageserver-protocol';
import { TextDocument } from 'vscode-languageserver-textdocument';
import {
  aliasBomb,
  bigPipeline,
  editSnippet,
  fuzzSeed,
  generatePipeline,
  manyProblems,
  mergeBomb,
  mutate,
  Rng,
} from '../helpers/fuzz';
import { LspClient, messageOf } from '../helpers/lspClient';

const SEED = fuzzSeed();
const ITERATIONS = Number(process.env['CAIRN_FUZZ_ITERATIONS'] ?? 100);
const VERBOSE = Boolean(process.env['CAIRN_FUZZ_VERBOSE']);
/**
 * Bounds in ms: each request; the diagnostics after an open or a change. They tell a hang from an
 * answer (speed is bench:lsp's business): a request right after a burst of 20 edits to a 0.5 MB
 * alias-bomb document once went unanswered for 5 s in CI on a 2-core machine, where the same seed
 * answers in under half a second otherwise.
 */
const REQUEST_BOUND = 15000;
const DIAGNOSTICS_BOUND = 10000;
/** The 100,000-line document: its first diagnostics, the diagnostics after an edit, a request. */
const BIG_OPEN_BOUND = 20000;
const BIG_EDIT_BOUND = 5000;
const BIG_REQUEST_BOUND = 2000;
/** The caps the server applies to very large documents. */
const MAX_SYMBOLS = 10000;
const MAX_FOLDING = 10000;

const EXAMPLE = path.resolve(__dirname, '../../examples/iris');
const CORPUS = path.resolve(__dirname, '../../../shared/corpus/dvc');
const REPRO_DIR = path.join(os.tmpdir(), `cairn-fuzz-${SEED}`);
/** What the server may write to stderr without it being a failure. */
const STDERR_PROBLEM = /Error|\n\s+at |Uncaught|FATAL/;

/** A document to run through the server; `companions` are opened first, in the same folder. */
interface Case {
  name: string;
  file: string;
  text: string;
  companions?: { file: string; text: string }[];
}

/** A problem in the server: its kind, the request or step, the message; where the documents are. */
interface Finding {
  kind: 'timeout' | 'crash' | 'internal error' | 'error response' | 'malformed result';
  where: string;
  message: string;
  caseName: string;
  repro: string;
}

class Timeout extends Error {}

function within<T>(promise: Promise<T>, bound: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Timeout(`${what}: no answer within ${bound} ms`)), bound);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Records what the server shows the user; `refuse` answers message requests with an error. */
function recordMessages(client: LspClient, into: string[], refuse = false): void {
  client.connection.onNotification('window/showMessage', (params: { message: string }) => {
    into.push(params.message);
  });
  client.connection.onRequest('window/showMessageRequest', (params: { message: string }) => {
    into.push(params.message);
    return refuse ? new ResponseError(-32601, 'This client shows no message boxes') : null;
  });
}

/** Records what the server logs as errors (its error boundary writes caught exceptions there). */
function recordErrors(client: LspClient, into: string[], onError?: () => void): void {
  client.connection.onNotification('window/logMessage', (params: { type: number; message: string }) => {
    if (params.type !== 1) return;
    into.push(params.message);
    onError?.();
  });
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** The client keeps its process private; these tests need its exit code. */
function processOf(client: LspClient): ChildProcess {
  return client['child'];
}

/** One server process, restarted after a hang or a crash, that runs cases and keeps findings. */
class Harness {
  client!: LspClient;
  readonly root: string;
  readonly findings: Finding[] = [];
  private readonly timings = new Map<string, number[]>();
  private readonly slowest: { ms: number; what: string }[] = [];
  private errors: string[] = [];
  private stderrSeen = 0;
  private counter = 0;
  private onError: (() => void) | null = null;

  constructor() {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-fuzz-'));
    fs.cpSync(EXAMPLE, this.root, { recursive: true });
  }

  async start(): Promise<void> {
    this.client = new LspClient(this.root);
    this.errors = [];
    this.stderrSeen = 0;
    recordErrors(this.client, this.errors, () => this.onError?.());
    recordMessages(this.client, []);
    await within(this.client.initialize(), REQUEST_BOUND, 'initialize');
  }

  async stop(): Promise<void> {
    await this.client.shutdown();
  }

  get child(): ChildProcess {
    return processOf(this.client);
  }

  /**
   * Runs one case: open (companions first) and wait for diagnostics; every request at random
   * positions; sometimes rounds of incremental edits, each followed by diagnostics and requests,
   * and a burst of edits; close. After a hang or a crash the server is replaced.
   */
  async run(testCase: Case, rng: Rng): Promise<void> {
    const id = `${String(this.counter++).padStart(4, '0')}-${testCase.name.replace(/[^\w.-]+/g, '_').slice(0, 60)}`;
    const folder = `cases/${id}`;
    const relative = `${folder}/${testCase.file}`;
    let document = TextDocument.create(this.client.uri(relative), 'yaml', 1, testCase.text);
    const edits: TextDocumentContentChangeEvent[][] = [];
    const context = { testCase, id, document: () => document, edits };
    let step = 'didOpen';
    if (VERBOSE) console.log(`      ${id} (${testCase.text.length} characters)`);
    try {
      for (const companion of testCase.companions ?? []) {
        step = `didOpen of ${companion.file}`;
        const companionPath = `${folder}/${companion.file}`;
        const waiting = this.diagnostics(companionPath);
        await this.client.open(companionPath, companion.text);
        await this.timed('diagnostics (open)', testCase, () => waiting);
      }
      step = 'didOpen';
      const waiting = this.diagnostics(relative);
      await this.client.open(relative, testCase.text);
      let diagnostics = await this.timed('diagnostics (open)', testCase, () => waiting);
      await this.check(context, 'diagnostics after didOpen', diagnostics);
      step = 'requests';
      await this.requests(context, relative, diagnostics, rng, 3);

      const rounds = rng.chance(0.5) ? 1 + rng.int(4) : 0;
      for (let round = 1; round <= rounds; round++) {
        step = `incremental edit round ${round}`;
        const changes = randomChanges(document, rng);
        document = TextDocument.update(document, changes, document.version + 1);
        edits.push(changes);
        const changed = this.diagnostics(relative);
        await this.client.change(relative, document.version, changes);
        diagnostics = await this.timed('diagnostics (change)', testCase, () => changed);
        await this.check(context, `diagnostics after edit round ${round}`, diagnostics);
        await this.requests(context, relative, diagnostics, rng, 1);
      }
      if (rng.chance(0.2)) {
        step = 'burst of 20 edits';
        for (let i = 0; i < 20; i++) {
          const changes = randomChanges(document, rng, 1);
          document = TextDocument.update(document, changes, document.version + 1);
          edits.push(changes);
          void this.client.change(relative, document.version, changes);
        }
        await this.requests(context, relative, [], rng, 1);
      }

      step = 'didClose';
      for (const file of [testCase.file, ...(testCase.companions ?? []).map((companion) => companion.file)]) {
        await this.client.connection.sendNotification('textDocument/didClose', {
          textDocument: { uri: this.client.uri(`${folder}/${file}`) },
        });
      }
      // A round trip, so that whatever the close set off is done before the next case.
      await this.timed('workspace/symbol', testCase, () =>
        within(
          this.client.connection.sendRequest('workspace/symbol', { query: rng.pick(['', 's', 'train']) }),
          REQUEST_BOUND,
          'workspace/symbol',
        ),
      );
      await this.check(context, 'after didClose', null);
    } catch (error) {
      if (!alive(this.child)) {
        const exit = this.child.exitCode ?? this.child.signalCode;
        const stderr = this.client.stderr.join('').slice(-3000);
        await this.find(context, 'crash', step, `the server exited (${exit}); stderr:\n${stderr}`);
      } else if (error instanceof Timeout) {
        await this.find(context, 'timeout', step, error.message);
      } else {
        throw error;
      }
    }
  }

  /** Every request, at `count` random positions (the document-wide ones once). */
  private async requests(
    context: CaseContext,
    relative: string,
    diagnostics: Diagnostic[],
    rng: Rng,
    count: number,
  ): Promise<void> {
    const document = context.document();
    const send = async (method: string, params: Record<string, unknown>): Promise<void> => {
      const what = `${method} ${JSON.stringify(params).slice(0, 300)}`;
      let result: unknown = null;
      try {
        result = await this.timed(method, context.testCase, () =>
          within(this.client.request(method, relative, params), REQUEST_BOUND, what),
        );
      } catch (error) {
        if (!(error instanceof ResponseError)) throw error;
        // A refused rename is an error by design; a cancelled or outdated request is fine.
        const expected = method.endsWith('ename') || error.code === -32800 || error.code === -32801;
        if (!expected) await this.find(context, 'error response', what, `${error.code} ${error.message}`);
      }
      await this.check(context, what, result);
    };
    await send('textDocument/documentSymbol', {});
    await send('textDocument/foldingRange', {});
    const positions = Array.from({ length: count }, () => randomPosition(document, rng));
    await send('textDocument/selectionRange', { positions });
    for (const position of positions) {
      await send('textDocument/hover', { position });
      await send('textDocument/completion', { position });
      await send('textDocument/definition', { position });
      await send('textDocument/references', { position, context: { includeDeclaration: rng.chance(0.5) } });
      await send('textDocument/prepareRename', { position });
      await send('textDocument/rename', { position, newName: rng.pick(['renamed', 'x', 'bad name!', '', '${x}']) });
    }
    const range = orderedRange(randomPosition(document, rng), randomPosition(document, rng));
    await send('textDocument/codeAction', { range, context: { diagnostics: diagnostics.slice(0, 50) } });
    const whole = { start: { line: 0, character: 0 }, end: document.positionAt(document.getText().length) };
    await send('textDocument/codeAction', { range: whole, context: { diagnostics: diagnostics.slice(0, 200) } });
  }

  /** The next diagnostics of a file; none if the server logs an error first (then none come). */
  private diagnostics(relative: string): Promise<Diagnostic[]> {
    const logged = new Promise<Diagnostic[]>((resolve) => {
      this.onError = () => resolve([]);
    });
    return within(
      Promise.race([this.client.waitForDiagnostics(relative, undefined, DIAGNOSTICS_BOUND + 1000), logged]),
      DIAGNOSTICS_BOUND,
      'publishDiagnostics',
    );
  }

  /** Fails the case if the process died; records logged errors, stderr output, malformed results. */
  private async check(context: CaseContext, what: string, result: unknown): Promise<void> {
    if (!alive(this.child)) throw new Error('the server exited');
    for (const error of this.errors.splice(0)) await this.find(context, 'internal error', what, error);
    const stderr = this.client.stderr.slice(this.stderrSeen).join('');
    this.stderrSeen = this.client.stderr.length;
    if (STDERR_PROBLEM.test(stderr)) await this.find(context, 'internal error', what, `stderr: ${stderr}`);
    const problem = malformed(result);
    if (problem) await this.find(context, 'malformed result', what, problem);
  }

  /** Records a finding and saves the documents; after a hang or a crash, starts a fresh server. */
  private async find(context: CaseContext, kind: Finding['kind'], where: string, message: string): Promise<void> {
    const repro = path.join(REPRO_DIR, context.id);
    fs.mkdirSync(repro, { recursive: true });
    for (const companion of context.testCase.companions ?? [])
      fs.writeFileSync(path.join(repro, companion.file), companion.text);
    fs.writeFileSync(path.join(repro, context.testCase.file), context.document().getText());
    if (context.edits.length > 0) {
      // The server parses incrementally, so the way to the text can matter: the opened text and each edit.
      const history = { opened: context.testCase.text, edits: context.edits };
      fs.writeFileSync(path.join(repro, `${context.testCase.file}.edits.json`), JSON.stringify(history));
    }
    this.findings.push({ kind, where, message, caseName: context.testCase.name, repro });
    if (kind === 'timeout' || kind === 'crash') {
      await this.stop();
      await this.start();
    }
  }

  private async timed<T>(method: string, testCase: Case, run: () => Promise<T>): Promise<T> {
    const start = performance.now();
    const result = await run();
    const ms = performance.now() - start;
    if (VERBOSE && ms > 500) console.log(`        slow: ${method} took ${ms.toFixed(0)} ms`);
    const list = this.timings.get(method) ?? [];
    list.push(ms);
    this.timings.set(method, list);
    this.slowest.push({ ms, what: `${method} in '${testCase.name}'` });
    this.slowest.sort((a, b) => b.ms - a.ms).splice(5);
    return result;
  }

  summary(): string {
    const rows = [...this.timings].map(([method, list]) => {
      const sorted = [...list].sort((a, b) => a - b);
      const p95 = sorted[Math.floor(sorted.length * 0.95)] ?? 0;
      const max = sorted.at(-1) ?? 0;
      return `        ${method.padEnd(30)} n=${String(list.length).padStart(5)}  p95=${p95.toFixed(0).padStart(5)} ms  max=${max.toFixed(0).padStart(5)} ms`;
    });
    const slowest = this.slowest.map((entry) => `        ${entry.ms.toFixed(0).padStart(5)} ms  ${entry.what}`);
    return `      timings:\n${rows.join('\n')}\n      slowest:\n${slowest.join('\n')}`;
  }
}

interface CaseContext {
  testCase: Case;
  id: string;
  document: () => TextDocument;
  /** The didChange edits so far, one list per notification (versions 2, 3, ...). */
  edits: TextDocumentContentChangeEvent[][];
}

/** One to `max` range edits applied in order (or, rarely, a full replacement). */
function randomChanges(document: TextDocument, rng: Rng, max = 3): TextDocumentContentChangeEvent[] {
  if (rng.chance(0.05)) return [{ text: generatePipeline(rng) }];
  const changes: TextDocumentContentChangeEvent[] = [];
  let mirror = document;
  for (let i = 0; i < 1 + rng.int(max); i++) {
    const length = mirror.getText().length;
    const start = rng.int(length + 1);
    const end = Math.min(length, start + (rng.chance(0.5) ? 0 : rng.int(80)));
    const change = { range: { start: mirror.positionAt(start), end: mirror.positionAt(end) }, text: editSnippet(rng) };
    changes.push(change);
    mirror = TextDocument.update(mirror, [change], mirror.version);
  }
  return changes;
}

/** A position in the document, at its end, or (sometimes) past the end of a line or the file. */
function randomPosition(document: TextDocument, rng: Rng): Position {
  const length = document.getText().length;
  const roll = rng.next();
  if (roll < 0.08) return { line: document.lineCount + rng.int(5), character: rng.int(50) };
  if (roll < 0.12) return { line: rng.int(document.lineCount), character: 10000 + rng.int(10) };
  if (roll < 0.16) return document.positionAt(length);
  return document.positionAt(rng.int(length + 1));
}

function orderedRange(a: Position, b: Position): Range {
  return isBefore(b, a) ? { start: b, end: a } : { start: a, end: b };
}

function isBefore(a: Position, b: Position): boolean {
  return a.line < b.line || (a.line === b.line && a.character < b.character);
}

/** What is wrong with a result (a negative or fractional position, an inverted range), or null. */
function malformed(value: unknown, depth = 0): string | null {
  if (value === null || typeof value !== 'object' || depth > 40) return null;
  const record = value as Record<string, unknown>;
  if ('line' in record && 'character' in record) {
    const { line, character } = record as { line: number; character: number };
    const valid = Number.isInteger(line) && Number.isInteger(character) && line >= 0 && character >= 0;
    return valid ? null : `bad position ${JSON.stringify(record)}`;
  }
  const { start, end } = record as { start?: Position; end?: Position };
  if (typeof start?.line === 'number' && typeof end?.line === 'number' && isBefore(end, start))
    return `inverted range ${JSON.stringify(record)}`;
  const { startLine, endLine } = record as { startLine?: number; endLine?: number };
  if (typeof startLine === 'number' && typeof endLine === 'number' && endLine < startLine)
    return `inverted folding range ${JSON.stringify(record)}`;
  for (const child of Array.isArray(value) ? value : Object.values(record)) {
    const problem = malformed(child, depth + 1);
    if (problem) return problem;
  }
  return null;
}

/** The findings, one entry per distinct problem (same kind, request and message). */
function report(findings: Finding[]): string {
  const distinct = new Map<string, Finding & { count: number }>();
  for (const finding of findings) {
    const message = (finding.message.split('\n')[0] ?? '').replace(/'[^']*'|\d+/g, '#');
    const key = `${finding.kind} ${finding.where.split(' ')[0] ?? ''} ${message}`;
    const entry = distinct.get(key);
    if (entry) entry.count++;
    else distinct.set(key, { ...finding, count: 1 });
  }
  return [...distinct.values()]
    .map((f) => {
      const message = f.message.slice(0, 1500).replace(/\n/g, '\n      ');
      return `  - ${f.kind} (x${f.count}), first in '${f.caseName}', saved in ${f.repro}\n    at ${f.where}\n      ${message}`;
    })
    .join('\n');
}

function countSymbols(symbols: DocumentSymbol[]): number {
  return symbols.reduce((total, symbol) => total + 1 + countSymbols(symbol.children ?? []), 0);
}

// ---------------------------------------------------------------------------------------------
// The inputs.

/** The corpus pipelines (and their params files) and the Iris example's specs. */
function corpusCases(): Case[] {
  const cases: Case[] = [];
  for (const id of fs.readdirSync(CORPUS).sort()) {
    const pipeline = path.join(CORPUS, id, 'dvc.yaml');
    if (!fs.existsSync(pipeline)) continue;
    cases.push({ name: `corpus ${id}`, file: 'dvc.yaml', text: fs.readFileSync(pipeline, 'utf8') });
    const params = path.join(CORPUS, id, 'params.yaml');
    if (fs.existsSync(params))
      cases.push({ name: `corpus ${id} params`, file: 'params.yaml', text: fs.readFileSync(params, 'utf8') });
  }
  for (const file of fs.readdirSync(EXAMPLE).filter((name) => name.endsWith('.yaml')))
    cases.push({ name: `iris ${file}`, file, text: fs.readFileSync(path.join(EXAMPLE, file), 'utf8') });
  return cases;
}

/** Hand-made hostile documents, each run once. */
function hostileCases(rng: Rng): Case[] {
  const iris = fs.readFileSync(path.join(EXAMPLE, 'pipeline.yaml'), 'utf8');
  const bomb = aliasBomb();
  const lines = (count: number, line: (i: number) => string): string =>
    Array.from({ length: count }, (_, i) => line(i)).join('');
  const pipeline = (name: string, text: string): Case => ({ name, file: 'dvc.yaml', text });
  return [
    pipeline('empty', ''),
    pipeline('only a BOM', '\ufeff'),
    pipeline('only NUL bytes', '\0\0\0\0'),
    pipeline('only separators', '---\n---\n...\n---\n'),
    pipeline('only CRLFs', '\r\n\r\n\r\n'),
    pipeline('lone surrogates', 'stages:\n  \ud800:\n    cmd: \udc00\ud800\n'),
    pipeline('5,000 nested [', `stages: ${'['.repeat(5000)}`),
    pipeline('5,000 nested [ closed', `stages: ${'['.repeat(5000)}${']'.repeat(5000)}\n`),
    pipeline('5,000 nested {', `stages: ${'{a: '.repeat(5000)}1${'}'.repeat(5000)}\n`),
    pipeline('5,000 nested sequences', `stages:\n  s:\n    deps: ${'- '.repeat(5000)}x\n`),
    {
      // The yaml parser overflows its stack on both; after the first, the second used to abort the process.
      name: '1,000 then 5,000 nested sequences in two files',
      file: 'dvc.yaml',
      text: `${'- '.repeat(5000)}x\n`,
      companions: [{ file: 'other.pipeline.yaml', text: `${'- '.repeat(1000)}x\n` }],
    },
    pipeline('1,500 nested block maps', `stages:\n  s:\n${lines(1500, (i) => `${' '.repeat(4 + i)}k${i}:\n`)}`),
    pipeline('5,000 nested ${', `stages:\n  s:\n    cmd: ${'${'.repeat(5000)}x${'}'.repeat(5000)}\n`),
    pipeline('1 MB cmd', `stages:\n  s:\n    cmd: ${'x'.repeat(1 << 20)}\n    outs: [a]\n`),
    pipeline('1 MB line without a newline', 'y'.repeat(1 << 20)),
    pipeline('1 MB quoted key', `"${'k'.repeat(1 << 20)}": 1\n`),
    pipeline('100,000 interpolations in a cmd', `stages:\n  s:\n    cmd: ${'${train.lr} '.repeat(100000)}\n`),
    pipeline('billion laughs at the top', `${bomb}stages: {}\n`),
    pipeline('billion laughs as deps', `${bomb}stages:\n  s:\n    cmd: echo\n    deps: *lol9\n    outs: *lol9\n`),
    pipeline(
      'billion laughs as a foreach',
      `${bomb}stages:\n  s:\n    foreach: *lol9\n    do:\n      cmd: echo \${item}\n`,
    ),
    pipeline(
      'billion laughs as a matrix',
      `${bomb}stages:\n  s:\n    matrix:\n      a: *lol9\n      b: *lol9\n    cmd: echo\n`,
    ),
    pipeline(
      'billion laughs in vars',
      `vars:\n  - ${bomb.replace(/\n(?=.)/g, '\n    ')}stages:\n  s:\n    cmd: echo \${lol9}\n`,
    ),
    pipeline('merge-key bomb', `${mergeBomb()}stages:\n  s:\n    cmd: echo \${m9}\n`),
    pipeline('self-referencing alias', 'a: &a [*a]\nstages: &s\n  s: *s\n'),
    pipeline(
      'matrix of 10 axes of 10 values',
      `stages:\n  s:\n    matrix:\n${lines(10, (i) => `      a${i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n`)}    cmd: echo \${item.a0}\n    outs: [out/\${item.a0}-\${item.a9}]\n`,
    ),
    pipeline(
      'foreach of 50,000 items',
      `stages:\n  s:\n    foreach:\n${'      - x\n'.repeat(50000)}    do:\n      cmd: echo \${item}\n      outs: [out/\${item}]\n`,
    ),
    pipeline(
      'a cycle of 2,000 stages',
      `stages:\n${lines(2000, (i) => `  s${i}:\n    cmd: echo\n    deps: [f${(i + 1) % 2000}]\n    outs: [f${i}]\n`)}`,
    ),
    pipeline(
      '2,000 stages with the same out',
      `stages:\n${lines(2000, (i) => `  s${i}:\n    cmd: echo\n    outs: [same]\n`)}`,
    ),
    pipeline('tabs everywhere', iris.replace(/ {2}/g, '\t')),
    pipeline('CRLF', iris.replace(/\n/g, '\r\n')),
    pipeline('lone CR', iris.replace(/\n/g, '\r')),
    pipeline('BOM and CRLF', `\ufeff${iris.replace(/\n/g, '\r\n')}`),
    pipeline('50 documents', Array.from({ length: 50 }, () => iris).join('---\n')),
    pipeline('a generated pipeline of 40 stages', generatePipeline(rng, 40)),
    {
      name: 'a billion laughs in params.yaml, used by the pipeline',
      file: 'dvc.yaml',
      text: 'stages:\n  s:\n    cmd: echo ${lol9} ${lol8.0}\n    params: [lol9]\n',
      companions: [{ file: 'params.yaml', text: bomb }],
    },
    {
      name: 'params.yaml nested 5,000 deep, used by the pipeline',
      file: 'dvc.yaml',
      text: `stages:\n  s:\n    cmd: echo \${${lines(200, (i) => `k${i}.`)}x}\n`,
      companions: [{ file: 'params.yaml', text: `${'{k: '.repeat(5000)}1${'}'.repeat(5000)}\n` }],
    },
    {
      name: 'an experiment with a billion laughs search space',
      file: 'bomb.experiment.yaml',
      text: `${bomb}name: x\npipeline: ../../pipeline.yaml\nsearch:\n  strategy: grid\n  space: *lol9\n`,
    },
    { name: 'a deployment nested 5,000 deep', file: 'deep.deploy.yaml', text: `name: x\nmodel: ${'['.repeat(5000)}\n` },
    {
      name: 'a deployment with a 1 MB model',
      file: 'big.deploy.yaml',
      text: `name: x\nmodel: ${'m'.repeat(1 << 20)}@a\n`,
    },
    // Completion reads the token before the cursor; a long line must not make that slow.
    {
      name: 'completion at the end of a 100,000-character value',
      file: 'dvc.yaml',
      text: `stages:\n  s:\n    cmd: ${'z'.repeat(100000)} \n`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------

describe(`the server under fuzzing (seed ${SEED}: CAIRN_FUZZ_SEED=${SEED} repeats this run)`, function () {
  this.timeout(600000);
  const harness = new Harness();

  before(async () => {
    console.log(`      seed ${SEED}, ${ITERATIONS} iterations; failing documents are saved in ${REPRO_DIR}`);
    await harness.start();
  });

  after(async () => {
    console.log(harness.summary());
    await harness.stop();
  });

  it('answers every request on hand-made hostile documents', async () => {
    const rng = new Rng(SEED).fork(1);
    const already = harness.findings.length;
    for (const [index, testCase] of hostileCases(rng).entries()) await harness.run(testCase, rng.fork(index));
    const findings = harness.findings.slice(already);
    assert.equal(findings.length, 0, `problems on hostile documents:\n${report(findings)}`);
  });

  it(`answers every request on ${ITERATIONS} mutations of the corpus and of generated specs`, async () => {
    const runs = new Rng(SEED).fork(2);
    const bases = corpusCases();
    const already = harness.findings.length;
    for (let i = 0; i < ITERATIONS; i++) {
      // A generator per case, so that a case is the same whatever happened in the ones before.
      const rng = runs.fork(i);
      const base = rng.chance(0.2)
        ? { name: 'generated', file: 'dvc.yaml', text: generatePipeline(rng) }
        : rng.pick(bases);
      const { text, applied } = mutate(base.text, rng);
      await harness.run({ name: `${base.name} + ${applied.join(', ')}`, file: base.file, text }, rng);
    }
    const findings = harness.findings.slice(already);
    assert.equal(findings.length, 0, `problems on mutated documents (seed ${SEED}):\n${report(findings)}`);
  });

  it('is still running and wrote no exception to stderr', () => {
    assert.ok(alive(harness.child), `the server exited: ${harness.child.exitCode ?? harness.child.signalCode}`);
    const stderr = harness.client.stderr.join('');
    assert.doesNotMatch(stderr, STDERR_PROBLEM, stderr);
  });
});

describe('very large documents', function () {
  this.timeout(120000);
  const STAGES = 11000;
  const FILE = 'big.pipeline.yaml';
  let client: LspClient;
  let document: TextDocument;
  const notices: string[] = [];
  const errors: string[] = [];

  const timed = async <T>(what: string, bound: number, run: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    const result = await within(run(), bound, what);
    console.log(`      ${what}: ${(performance.now() - start).toFixed(0)} ms`);
    return result;
  };
  const edit = async (
    what: string,
    changes: TextDocumentContentChangeEvent[],
    predicate?: (diagnostics: Diagnostic[]) => boolean,
  ): Promise<void> => {
    document = TextDocument.update(document, changes, document.version + 1);
    const waiting = client.waitForDiagnostics(FILE, predicate, BIG_EDIT_BOUND + 1000);
    await client.change(FILE, document.version, changes);
    await timed(`diagnostics after ${what}`, BIG_EDIT_BOUND, () => waiting);
  };
  /** The line of `needle`, searched from the line of `after` if given. */
  const lineOf = (needle: string, after?: string): number => {
    const text = document.getText();
    const index = text.indexOf(needle, after === undefined ? 0 : text.indexOf(after));
    assert.ok(index !== -1, `'${needle}' not in the document`);
    return document.positionAt(index).line;
  };
  const insertion = (line: number, character: number, text: string, endLine = line, endCharacter = character) => ({
    range: { start: { line, character }, end: { line: endLine, character: endCharacter } },
    text,
  });

  before(async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-fuzz-big-'));
    fs.cpSync(EXAMPLE, root, { recursive: true });
    client = new LspClient(root);
    recordMessages(client, notices);
    recordErrors(client, errors);
    await client.initialize();
    document = TextDocument.create(client.uri(FILE), 'yaml', 1, bigPipeline(STAGES));
    assert.ok(document.lineCount >= 100000, `${document.lineCount} lines`);
  });

  after(async () => {
    await client.shutdown();
  });

  it(`publishes the diagnostics of a ${STAGES}-stage, 110,000-line pipeline within a bound`, async () => {
    const waiting = client.waitForDiagnostics(FILE, undefined, BIG_OPEN_BOUND + 1000);
    await client.open(FILE, document.getText());
    const diagnostics = await timed(`first diagnostics of ${document.lineCount} lines`, BIG_OPEN_BOUND, () => waiting);
    const errorMessages = diagnostics.filter((diagnostic) => diagnostic.severity === 1).map(messageOf);
    assert.deepEqual(errorMessages.slice(0, 5), []);
  });

  it('caps its outline and its folding ranges, and says so once', async () => {
    const symbols = await timed('documentSymbol', REQUEST_BOUND, () =>
      client.request<DocumentSymbol[]>('textDocument/documentSymbol', FILE, {}),
    );
    assert.equal(countSymbols(symbols), MAX_SYMBOLS);
    const folding = await timed('foldingRange', REQUEST_BOUND, () =>
      client.request<FoldingRange[]>('textDocument/foldingRange', FILE, {}),
    );
    assert.ok(folding.length <= MAX_FOLDING, `${folding.length} folding ranges, more than ${MAX_FOLDING}`);
    await client.request('textDocument/documentSymbol', FILE, {});
    assert.equal(notices.filter((notice) => notice.includes(`outline shows its first ${MAX_SYMBOLS}`)).length, 1);
    assert.equal(notices.filter((notice) => notice.includes(`folding covers its first ${MAX_FOLDING}`)).length, 1);
  });

  it('answers completion and hover quickly anywhere in it', async () => {
    for (const stage of [0, 5000, STAGES - 1]) {
      const line = lineOf(`  stage_${stage}:\n`);
      await timed(`completion in stage ${stage}`, BIG_REQUEST_BOUND, () =>
        client.request('textDocument/completion', FILE, { position: { line: line + 1, character: 4 } }),
      );
      await timed(`hover on \${train.lr} in stage ${stage}`, BIG_REQUEST_BOUND, () =>
        client.request('textDocument/hover', FILE, { position: { line: line + 1, character: 40 } }),
      );
      await timed(`hover on stage ${stage}`, BIG_REQUEST_BOUND, () =>
        client.request('textDocument/hover', FILE, { position: { line, character: 4 } }),
      );
    }
    const middle = lineOf('  stage_5000:\n');
    await timed('definition of a dep', REQUEST_BOUND, () =>
      client.request('textDocument/definition', FILE, { position: { line: middle + 3, character: 12 } }),
    );
    await timed('references to a stage', REQUEST_BOUND, () =>
      client.request('textDocument/references', FILE, {
        position: { line: middle, character: 4 },
        context: { includeDeclaration: true },
      }),
    );
    await timed('selectionRange', REQUEST_BOUND, () =>
      client.request('textDocument/selectionRange', FILE, { positions: [{ line: middle + 1, character: 10 }] }),
    );
  });

  it('re-publishes its diagnostics quickly after edits, and still answers quickly', async () => {
    const dep = lineOf('      - data/part_4999.csv\n', '  stage_5000:\n');
    await edit('renaming a dep in the middle', [insertion(dep, 13, 'nowhere', dep, 17)], (diagnostics) =>
      diagnostics.some((diagnostic) => messageOf(diagnostic).includes('data/nowhere_4999.csv')),
    );
    const cmd = lineOf('  stage_7000:\n') + 1;
    await edit('typing a character in a cmd', [insertion(cmd, 15, 'x')]);
    const stage = lineOf('  stage_3000:\n');
    await edit(
      'inserting a stage',
      [insertion(stage, 0, '  inserted:\n    cmd: echo\n    deps: [missing/input.csv]\n')],
      (diagnostics) => diagnostics.some((diagnostic) => messageOf(diagnostic).includes('missing/input.csv')),
    );
    const last = lineOf(`  stage_${STAGES - 1}:\n`);
    const end = document.positionAt(document.getText().length);
    await edit('deleting the last stage', [insertion(last, 0, '', end.line, end.character)]);
    await edit('a syntax error', [insertion(cmd, 4, '[')], (diagnostics) =>
      diagnostics.some((diagnostic) => diagnostic.severity === 1),
    );
    await timed('completion after the edits', BIG_REQUEST_BOUND, () =>
      client.request('textDocument/completion', FILE, { position: { line: stage + 1, character: 4 } }),
    );
    await timed('hover after the edits', BIG_REQUEST_BOUND, () =>
      client.request('textDocument/hover', FILE, { position: { line: stage, character: 4 } }),
    );
  });

  it('stays responsive while typing: validates a burst of 20 keystrokes a few times, not 20', async () => {
    // An editor sends a didChange per keystroke without waiting; the server should not queue a
    // validation per keystroke before it answers what comes next.
    const cmd = lineOf('  stage_8000:\n') + 1;
    const uri = client.uri(FILE);
    const before = client.published.get(uri) ?? 0;
    for (let i = 0; i < 20; i++) {
      const changes = [insertion(cmd, 15 + i, 'y')];
      document = TextDocument.update(document, changes, document.version + 1);
      void client.change(FILE, document.version, changes);
    }
    const final = document.version;
    const waiting = client.waitForDiagnostics(
      FILE,
      () => client.diagnostics.get(uri)?.version === final,
      BIG_EDIT_BOUND * 4,
    );
    await timed('completion right after 20 keystrokes', REQUEST_BOUND, () =>
      client.request('textDocument/completion', FILE, { position: { line: cmd, character: 35 } }),
    );
    await waiting;
    const validations = (client.published.get(uri) ?? 0) - before;
    // A few, not one per keystroke: on a loaded machine keystrokes can arrive further apart than the
    // debounce, so the bound leaves room for that and still fails a server that validates each one.
    assert.ok(validations <= 8, `${validations} validations for one burst of 20 keystrokes`);
  });

  it('caps the outline and folding of a file with 20,000 top-level keys', async () => {
    const file = 'wide.pipeline.yaml';
    const waiting = client.waitForDiagnostics(file, undefined, DIAGNOSTICS_BOUND);
    await client.open(file, Array.from({ length: 20000 }, (_, i) => `k${i}:\n  a: 1\n`).join(''));
    await waiting;
    const symbols = await client.request<DocumentSymbol[]>('textDocument/documentSymbol', file, {});
    assert.ok(countSymbols(symbols) <= MAX_SYMBOLS, `${countSymbols(symbols)} symbols`);
    const folding = await client.request<FoldingRange[]>('textDocument/foldingRange', file, {});
    assert.ok(folding.length <= MAX_FOLDING, `${folding.length} folding ranges`);
  });

  it('shows at most 1,000 problems of a file, then a notice', async () => {
    const file = 'capped.pipeline.yaml';
    const waiting = client.waitForDiagnostics(file, undefined, DIAGNOSTICS_BOUND);
    await client.open(file, manyProblems(1500));
    const diagnostics = await waiting;
    assert.equal(diagnostics.length, 1001);
    const last = diagnostics.at(-1);
    assert.equal(last?.severity, 3, 'the notice is information');
    assert.match(last ? messageOf(last) : '', /^Showing the first 1000 of 1500 problems/);
    assert.ok(diagnostics.slice(0, 1000).every((diagnostic) => diagnostic.code !== 'problems-capped'));
  });

  it('is still running and logged no error', () => {
    assert.ok(alive(processOf(client)), client.stderr.join('').slice(-2000));
    assert.deepEqual(errors, []);
    assert.doesNotMatch(client.stderr.join(''), STDERR_PROBLEM);
  });
});

describe('a client without message boxes', function () {
  this.timeout(30000);

  it('does not take the server down when it refuses to show a notice', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-fuzz-notice-'));
    const client = new LspClient(root);
    const notices: string[] = [];
    recordMessages(client, notices, true);
    await client.initialize();
    try {
      const file = 'wide.pipeline.yaml';
      const waiting = client.waitForDiagnostics(file, undefined, DIAGNOSTICS_BOUND);
      await client.open(file, Array.from({ length: MAX_SYMBOLS + 1 }, (_, i) => `k${i}:\n  a: 1\n`).join(''));
      await waiting;
      await within(client.request('textDocument/documentSymbol', file, {}), REQUEST_BOUND, 'documentSymbol');
      assert.ok(notices.length > 0, 'the server wanted to show a notice');
      // The refusal arrives after the answer; the next request shows whether the server took it.
      const next = await within(client.request('textDocument/foldingRange', file, {}), REQUEST_BOUND, 'foldingRange')
        .then(() => 'answered')
        .catch((error: unknown) => String(error));
      assert.ok(alive(processOf(client)), `the server exited; stderr:\n${client.stderr.join('')}`);
      assert.equal(next, 'answered');
    } finally {
      await client.shutdown();
    }
  });
});
