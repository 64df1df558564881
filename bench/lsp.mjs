// LSP benchmark: drives Cairn's language server and yaml-language-server over stdio, as an editor
// does, on a generated dvc.yaml pipeline (bench/generate.mjs), and measures
//   - didOpen -> first textDocument/publishDiagnostics for the file,
//   - incremental didChange of one stage -> next publishDiagnostics (median, p90),
//   - completion and hover latency, the server's memory (VmRSS / VmHWM of the child),
//   - for Cairn, open and edit times at several sizes, to show how they grow.
// A table goes to stderr, JSON to stdout.
//
// Usage: node bench/lsp.mjs [--stages N] [--only cairn|yaml] [--iterations K] [--warmup W]
//                           [--sizes 500,1000,2000,4000] [--no-scaling] [--schema FILE] [--cpu-prof]
// --cpu-prof starts each server with Node's --cpu-prof, writing .cpuprofile files to bench/out/prof.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import jsonrpc from 'vscode-jsonrpc/node';

const { createMessageConnection, StreamMessageReader, StreamMessageWriter } = jsonrpc;
import { writeWorkspace } from './generate.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const outRoot = join(here, 'out');
const WAIT_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// Command line

function parseArgs(argv) {
  const options = {
    stages: 2000,
    only: null,
    iterations: 20,
    warmup: 3,
    sizes: [500, 1000, 2000, 4000],
    scaling: true,
    schema: null,
    cpuProf: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--stages':
        options.stages = Number(value());
        break;
      case '--only':
        options.only = value();
        if (!['cairn', 'yaml'].includes(options.only)) fail('--only must be cairn or yaml');
        break;
      case '--iterations':
        options.iterations = Number(value());
        break;
      case '--warmup':
        options.warmup = Number(value());
        break;
      case '--sizes':
        options.sizes = value().split(',').map(Number);
        break;
      case '--no-scaling':
        options.scaling = false;
        break;
      case '--cpu-prof':
        options.cpuProf = true;
        break;
      case '--schema':
        options.schema = resolve(value());
        break;
      case '-h':
      case '--help':
        process.stderr.write(
          'node bench/lsp.mjs [--stages N] [--only cairn|yaml] [--iterations K] [--warmup W] ' +
            '[--sizes 500,1000,2000,4000] [--no-scaling] [--schema FILE] [--cpu-prof]\n',
        );
        process.exit(0);
        break;
      default:
        fail(`unknown flag ${flag}`);
    }
  }
  for (const [name, v] of [
    ['--stages', options.stages],
    ['--iterations', options.iterations],
    ['--warmup', options.warmup],
  ]) {
    if (!Number.isInteger(v) || v < 0 || (name !== '--warmup' && v < 1)) fail(`${name}: bad value ${v}`);
  }
  if (options.sizes.some((n) => !Number.isInteger(n) || n < 20)) fail('--sizes: integers >= 20');
  return options;
}

function fail(message) {
  process.stderr.write(`bench/lsp: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Statistics

const round = (x) => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 100) / 100);

function stats(samples) {
  if (!samples.length) return { n: 0, median: null, p90: null, min: null, max: null, mean: null };
  const s = [...samples].sort((a, b) => a - b);
  const quantile = (q) => {
    // Linear interpolation between closest ranks.
    const pos = (s.length - 1) * q;
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return s[lo] + (s[hi] - s[lo]) * (pos - lo);
  };
  return {
    n: s.length,
    median: round(quantile(0.5)),
    p90: round(quantile(0.9)),
    min: round(s[0]),
    max: round(s[s.length - 1]),
    mean: round(s.reduce((a, b) => a + b, 0) / s.length),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Schema for yaml-language-server

/**
 * yaml-language-server 2.0.0 validates draft-04, -07, 2019-09 and 2020-12 schemas (it picks the
 * validator from `$schema`), so the project's 2020-12 schema is used as it is. Without one, a
 * minimal schema of dvc.yaml's stage syntax is written to bench/out, enough to flag unknown keys.
 */
function pickSchema(options) {
  if (options.schema) return { path: options.schema, source: 'flag --schema' };
  const project = join(root, 'schemas', 'pipeline.schema.json');
  if (existsSync(project)) {
    try {
      JSON.parse(readFileSync(project, 'utf8'));
      return { path: project, source: 'schemas/pipeline.schema.json' };
    } catch (error) {
      process.stderr.write(
        `bench/lsp: schemas/pipeline.schema.json is not valid JSON (${error.message}); using fallback\n`,
      );
    }
  }
  const path = join(outRoot, 'fallback-pipeline.schema.json');
  mkdirSync(outRoot, { recursive: true });
  writeFileSync(path, JSON.stringify(fallbackSchema(), null, 2) + '\n');
  return { path, source: 'bench fallback (minimal dvc.yaml schema, 2020-12)' };
}

function fallbackSchema() {
  const paths = {
    type: 'array',
    items: {
      anyOf: [
        { type: 'string' },
        {
          type: 'object',
          minProperties: 1,
          maxProperties: 1,
          additionalProperties: {
            anyOf: [
              { type: 'null' },
              { type: 'object', properties: { cache: { type: 'boolean' }, persist: { type: 'boolean' } } },
            ],
          },
        },
      ],
    },
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'dvc.yaml (benchmark fallback)',
    type: 'object',
    properties: {
      vars: { type: 'array' },
      stages: { type: 'object', additionalProperties: { $ref: '#/$defs/stage' } },
      params: { type: 'array' },
      metrics: { type: 'array' },
      plots: { type: 'array' },
      artifacts: { type: 'object' },
    },
    additionalProperties: false,
    $defs: {
      stage: {
        type: 'object',
        description: 'A pipeline stage.',
        required: ['cmd'],
        properties: {
          cmd: {
            description: 'Command to run.',
            anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
          },
          wdir: { type: 'string' },
          deps: { type: 'array', items: { type: 'string' }, description: 'Dependencies.' },
          params: { type: 'array' },
          outs: paths,
          metrics: paths,
          plots: paths,
          frozen: { type: 'boolean' },
          always_changed: { type: 'boolean' },
          desc: { type: 'string' },
          meta: {},
          foreach: {},
          do: { type: 'object' },
          matrix: { type: 'object' },
          vars: { type: 'array' },
        },
        additionalProperties: false,
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// An LSP client over stdio

class Server {
  constructor(kind, { workspaceDir, schemaUrl, cpuProf = false }) {
    this.kind = kind;
    this.cpuProf = cpuProf;
    this.workspaceDir = workspaceDir;
    this.schemaUrl = schemaUrl;
    this.diagnostics = new Map(); // uri -> [{ t, version, diagnostics }]
    this.waiters = new Set();
    this.requests = {}; // method -> count, requests the server sent us
    this.stderrTail = '';
    this.exited = null;
    this.yamlSettings = {
      validate: true,
      hover: true,
      completion: true,
      format: { enable: false },
      schemaStore: { enable: false },
      kubernetesCRDStore: { enable: false },
      schemas: schemaUrl ? { [schemaUrl]: ['dvc.yaml'] } : {},
    };
  }

  start() {
    const script =
      this.kind === 'yaml'
        ? join(root, 'node_modules', 'yaml-language-server', 'bin', 'yaml-language-server')
        : join(root, 'dist', 'server', 'languageServer.js');
    if (!existsSync(script)) throw new Error(`${script} does not exist (run npm run build)`);
    const nodeFlags = this.cpuProf
      ? [
          '--cpu-prof',
          '--cpu-prof-dir',
          join(outRoot, 'prof'),
          '--cpu-prof-name',
          `${this.kind}-${Date.now()}.cpuprofile`,
        ]
      : [];
    this.child = spawn(process.execPath, [...nodeFlags, script, '--stdio'], {
      cwd: this.workspaceDir,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    liveChildren.add(this.child);
    this.child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      liveChildren.delete(this.child);
      this.wake();
    });
    this.child.stderr.on('data', (chunk) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
    });
    this.child.stdin.on('error', () => {});
    this.connection = createMessageConnection(
      new StreamMessageReader(this.child.stdout),
      new StreamMessageWriter(this.child.stdin),
    );
    this.connection.onNotification((method, params) => {
      if (method === 'textDocument/publishDiagnostics') {
        const t = performance.now();
        const list = this.diagnostics.get(params.uri) ?? [];
        list.push({ t, version: params.version, diagnostics: params.diagnostics ?? [] });
        this.diagnostics.set(params.uri, list);
        this.wake();
      } else if (method === 'window/logMessage' && params?.type === 1) {
        this.stderrTail = (this.stderrTail + `[logMessage] ${params.message}\n`).slice(-4000);
      }
    });
    this.connection.onRequest((method, params) => {
      this.requests[method] = (this.requests[method] ?? 0) + 1;
      if (method === 'workspace/configuration') {
        return (params?.items ?? []).map((item) => this.configuration(item.section));
      }
      if (method === 'workspace/workspaceFolders') {
        return [{ uri: pathToFileURL(this.workspaceDir).href, name: 'bench' }];
      }
      return null; // client/registerCapability, window/workDoneProgress/create, anything else
    });
    this.connection.onError(() => {});
    this.connection.onClose(() => this.wake());
    this.connection.listen();
    return this;
  }

  configuration(section) {
    if (!section) return { yaml: this.yamlSettings };
    if (section === 'yaml') return this.yamlSettings;
    if (section.startsWith('yaml.')) {
      let v = this.yamlSettings;
      for (const part of section.slice(5).split('.')) v = v?.[part];
      return v ?? null;
    }
    return null;
  }

  wake() {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Resolves when `predicate()` returns a value, or rejects after `timeout` ms or if the server exits. */
  until(predicate, timeout = WAIT_MS, what = 'event') {
    return new Promise((resolvePromise, reject) => {
      const check = () => {
        let value;
        try {
          value = predicate();
        } catch (error) {
          done();
          reject(error);
          return;
        }
        if (value !== undefined) {
          done();
          resolvePromise(value);
        } else if (this.exited) {
          done();
          reject(
            new Error(
              `${this.kind} server exited (${JSON.stringify(this.exited)}) while waiting for ${what}\n${this.stderrTail}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timeout (${timeout} ms) waiting for ${what} from ${this.kind}\n${this.stderrTail}`));
      }, timeout);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  published(uri) {
    return this.diagnostics.get(uri) ?? [];
  }

  /** The first publish for `uri` at index >= `from` whose version (if the server sends one) is >= `version`. */
  nextDiagnostics(uri, from, version, what) {
    return this.until(
      () => {
        const list = this.published(uri);
        for (let i = from; i < list.length; i++) {
          const event = list[i];
          if (event.version === undefined || event.version === null || event.version >= version)
            return { ...event, index: i };
        }
        return undefined;
      },
      WAIT_MS,
      what,
    );
  }

  /** Waits until no publish for `uri` has arrived for `quietMs`. Returns the publishes seen since `from`. */
  async quiet(uri, from, quietMs) {
    const deadline = performance.now() + WAIT_MS;
    for (;;) {
      const list = this.published(uri);
      const last = list.length ? list[list.length - 1].t : 0;
      const idle = performance.now() - last;
      if (idle >= quietMs || performance.now() > deadline) return list.slice(from);
      await sleep(quietMs - idle + 1);
    }
  }

  async initialize() {
    const rootUri = pathToFileURL(this.workspaceDir).href;
    const t0 = performance.now();
    const result = await withTimeout(
      this.connection.sendRequest('initialize', {
        processId: process.pid,
        clientInfo: { name: 'cairn-bench', version: '1' },
        locale: 'en',
        rootPath: this.workspaceDir,
        rootUri,
        workspaceFolders: [{ uri: rootUri, name: 'bench' }],
        capabilities: {
          workspace: {
            configuration: true,
            workspaceFolders: true,
            didChangeConfiguration: { dynamicRegistration: true },
            didChangeWatchedFiles: { dynamicRegistration: true },
          },
          textDocument: {
            synchronization: { dynamicRegistration: true, didSave: true, willSave: false },
            publishDiagnostics: { relatedInformation: true, versionSupport: true, tagSupport: { valueSet: [1, 2] } },
            completion: {
              dynamicRegistration: true,
              completionItem: { snippetSupport: true, documentationFormat: ['markdown', 'plaintext'] },
              contextSupport: true,
            },
            hover: { dynamicRegistration: true, contentFormat: ['markdown', 'plaintext'] },
          },
          window: { workDoneProgress: true },
        },
        initializationOptions: {},
      }),
      WAIT_MS,
      `initialize (${this.kind})`,
    );
    this.initializeMs = performance.now() - t0;
    this.capabilities = result?.capabilities ?? {};
    const sync = this.capabilities.textDocumentSync;
    this.syncKind = typeof sync === 'number' ? sync : (sync?.change ?? 0);
    await this.connection.sendNotification('initialized', {});
    await this.connection.sendNotification('workspace/didChangeConfiguration', {
      settings: { yaml: this.yamlSettings },
    });
  }

  request(method, params) {
    return withTimeout(this.connection.sendRequest(method, params), WAIT_MS, `${method} (${this.kind})`);
  }

  memory() {
    if (!this.child) return { rss_mb: null, hwm_mb: null };
    try {
      const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
      const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
      return { rss_mb: round(kb('VmRSS') / 1024), hwm_mb: round(kb('VmHWM') / 1024) };
    } catch {
      return { rss_mb: null, hwm_mb: null };
    }
  }

  async stop() {
    if (!this.child || this.exited) return;
    try {
      await withTimeout(this.connection.sendRequest('shutdown'), 5000, 'shutdown');
      await this.connection.sendNotification('exit');
    } catch {
      // killed below
    }
    try {
      await this.until(() => (this.exited ? true : undefined), 3000, 'exit');
    } catch {
      this.child.kill('SIGKILL');
      await sleep(100);
    }
    this.connection.dispose();
  }
}

const liveChildren = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of liveChildren) child.kill('SIGKILL');
    process.exit(130);
  });
}
process.on('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout (${ms} ms) waiting for ${what}`)), ms);
    }),
  ]);
}

// ---------------------------------------------------------------------------------------------
// One scenario against one server

function summarizeDiagnostics(diagnostics, plantedLine) {
  const onPlanted = diagnostics.filter((d) => d.range?.start?.line === plantedLine);
  return {
    count: diagnostics.length,
    planted_found: onPlanted.length > 0,
    planted_message: onPlanted[0]?.message ?? null,
    sample: diagnostics
      .slice(0, 5)
      .map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1} ${String(d.message).split('\n')[0]}`),
  };
}

function itemCount(result) {
  if (!result) return 0;
  if (Array.isArray(result)) return result.length;
  return result.items?.length ?? 0;
}

function hoverText(result) {
  if (!result?.contents) return '';
  const c = result.contents;
  const one = (x) => (typeof x === 'string' ? x : (x?.value ?? ''));
  return (Array.isArray(c) ? c.map(one).join('\n') : one(c)).trim();
}

async function runScenario(kind, workspace, schemaUrl, options, { full = true } = {}) {
  const server = new Server(kind, { workspaceDir: workspace.dir, schemaUrl, cpuProf: options.cpuProf });
  const uri = pathToFileURL(workspace.file).href;
  const result = { server: kind, stages: workspace.stages, lines: workspace.lineCount };
  try {
    server.start();
    await server.initialize();
    result.initialize_ms = round(server.initializeMs);
    result.sync_kind = server.syncKind;
    await sleep(500); // let the server take its configuration before the clock starts

    // didOpen -> first publishDiagnostics
    let text = workspace.text;
    let version = 1;
    const t0 = performance.now();
    await server.connection.sendNotification('textDocument/didOpen', {
      textDocument: { uri, languageId: 'yaml', version, text },
    });
    const first = await server.nextDiagnostics(uri, 0, version, `diagnostics after didOpen`);
    result.open_ms = round(first.t - t0);
    result.open_diagnostics = summarizeDiagnostics(first.diagnostics, workspace.planted.line);
    const afterOpen = await server.quiet(uri, 0, 700);
    const settled = afterOpen[afterOpen.length - 1];
    result.open_publishes = afterOpen.length;
    const withPlanted = afterOpen.find((e) =>
      e.diagnostics.some((d) => d.range?.start?.line === workspace.planted.line),
    );
    result.open_planted_ms = withPlanted ? round(withPlanted.t - t0) : null;
    result.open_settled_ms = round(settled.t - t0);
    result.open_settled_diagnostics = summarizeDiagnostics(settled.diagnostics, workspace.planted.line);

    // Incremental didChange of one stage -> next publishDiagnostics
    const edits = workspace.edits.map((e) => ({ ...e, current: e.from }));
    const editSamples = [];
    const editRecords = [];
    const rounds = options.warmup + options.iterations;
    let extraPublishes = 0;
    for (let k = 0; k < rounds; k++) {
      const edit = edits[k % edits.length];
      const replacement = edit.current === edit.from ? edit.to : edit.from;
      const range = {
        start: { line: edit.line, character: edit.character },
        end: { line: edit.line, character: edit.character + edit.current.length },
      };
      text = applyEdit(text, range, replacement);
      edit.current = replacement;
      version += 1;
      const change = server.syncKind === 1 ? { text } : { range, rangeLength: replacement.length, text: replacement };
      const from = server.published(uri).length;
      const te = performance.now();
      await server.connection.sendNotification('textDocument/didChange', {
        textDocument: { uri, version },
        contentChanges: [change],
      });
      const next = await server.nextDiagnostics(uri, from, version, `diagnostics after didChange #${k + 1}`);
      const ms = next.t - te;
      const seen = await server.quiet(uri, from, 250);
      extraPublishes += seen.length - 1 - (next.index - from);
      const last = seen[seen.length - 1];
      const summary = summarizeDiagnostics(last.diagnostics, workspace.planted.line);
      editRecords.push({
        what: `${edit.what}: ${edit.current === edit.to ? `${edit.from}->${edit.to}` : `${edit.to}->${edit.from}`}`,
        ms: round(ms),
        diagnostics: summary.count,
        planted_found: summary.planted_found,
        warmup: k < options.warmup,
      });
      if (k >= options.warmup) editSamples.push(ms);
    }
    result.edit = stats(editSamples);
    result.edit_extra_publishes = extraPublishes;
    result.edit_diagnostics_counts = [...new Set(editRecords.map((r) => r.diagnostics))];
    result.edit_planted_always_found = editRecords.every((r) => r.planted_found);
    result.edits = editRecords;

    if (full) {
      // Completion and hover
      const p = workspace.positions;
      const measure = async (method, pos, describe) => {
        const samples = [];
        let last;
        for (let k = 0; k < options.warmup + options.iterations; k++) {
          const tr = performance.now();
          last = await server.request(method, {
            textDocument: { uri },
            position: { line: pos.line, character: pos.character },
            ...(method === 'textDocument/completion' ? { context: { triggerKind: 1 } } : {}),
          });
          if (k >= options.warmup) samples.push(performance.now() - tr);
        }
        return { at: `${pos.line + 1}:${pos.character + 1} (${pos.what})`, ...stats(samples), ...describe(last) };
      };
      const completionInfo = (r) => ({
        items: itemCount(r),
        sample: (Array.isArray(r) ? r : (r?.items ?? [])).slice(0, 6).map((i) => i.label),
      });
      const hoverInfo = (r) => ({ text: hoverText(r).slice(0, 160) || null });
      result.completion_key = await measure('textDocument/completion', p.completionKey, completionInfo);
      result.completion_deps = await measure('textDocument/completion', p.completionDeps, completionInfo);
      result.hover_param = await measure('textDocument/hover', p.hoverParam, hoverInfo);
      result.hover_key = await measure('textDocument/hover', p.hoverKey, hoverInfo);

      // Re-open in a warm server: didClose, then didOpen again.
      const closeFrom = server.published(uri).length;
      await server.connection.sendNotification('textDocument/didClose', { textDocument: { uri } });
      // Servers clear a closed file's diagnostics; wait for that (briefly), then for quiet.
      await server
        .until(() => (server.published(uri).length > closeFrom ? true : undefined), 3000, 'clear on close')
        .catch(() => {});
      await server.quiet(uri, closeFrom, 400);
      const from = server.published(uri).length;
      const tw = performance.now();
      await server.connection.sendNotification('textDocument/didOpen', {
        textDocument: { uri, languageId: 'yaml', version: 1, text },
      });
      const reopen = await server.nextDiagnostics(uri, from, 1, 'diagnostics after re-open');
      result.reopen_ms = round(reopen.t - tw);
      result.reopen_diagnostics = reopen.diagnostics.length;
      await server.quiet(uri, from, 400);
    }

    result.memory = server.memory();
    result.server_requests = server.requests;
    // Did the server really validate? The planted unknown key must be reported after open and after every edit.
    result.verified = Boolean(result.open_settled_diagnostics.planted_found && result.edit_planted_always_found);
  } catch (error) {
    result.error = String(error?.message ?? error);
    result.memory = server.memory();
  } finally {
    await server.stop();
  }
  return result;
}

function applyEdit(text, range, replacement) {
  const offset = (pos) => {
    let index = 0;
    for (let line = 0; line < pos.line; line++) index = text.indexOf('\n', index) + 1;
    return index + pos.character;
  };
  return text.slice(0, offset(range.start)) + replacement + text.slice(offset(range.end));
}

// ---------------------------------------------------------------------------------------------
// Report

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c === 0 ? String(cell ?? '').padEnd(widths[c]) : String(cell ?? '').padStart(widths[c])))
        .join('  '),
    )
    .join('\n');
}

const fmt = (x) =>
  x === null || x === undefined
    ? '-'
    : typeof x === 'number'
      ? Number.isInteger(x)
        ? String(x)
        : x.toFixed(1)
      : String(x);

function printReport(report) {
  const err = (s = '') => process.stderr.write(s + '\n');
  const servers = Object.values(report.servers);
  err();
  err(
    `LSP benchmark: ${report.stages} stages, ${report.lines} lines (${report.file}); ${report.iterations} iterations after ${report.warmup} warmup`,
  );
  err(`yaml-language-server schema: ${report.schema.source}`);
  if (servers.length) {
    const rows = [['', ...servers.map((s) => s.server)]];
    const row = (label, f) =>
      rows.push([label, ...servers.map((s) => (s.error && f(s) === undefined ? 'ERR' : fmt(f(s))))]);
    row('initialize ms', (s) => s.initialize_ms);
    row('open -> diagnostics ms', (s) => s.open_ms);
    row('open diagnostics (count)', (s) => s.open_diagnostics?.count);
    row('  planted error found', (s) => s.open_diagnostics?.planted_found);
    row('open -> planted error ms', (s) => s.open_planted_ms);
    row('open settled ms', (s) => s.open_settled_ms);
    row('  settled count', (s) => s.open_settled_diagnostics?.count);
    row('edit median ms', (s) => s.edit?.median);
    row('edit p90 ms', (s) => s.edit?.p90);
    row('  edit counts / planted', (s) =>
      s.edit ? `${s.edit_diagnostics_counts.join(',')} / ${s.edit_planted_always_found}` : undefined,
    );
    row('completion key median ms', (s) => s.completion_key?.median);
    row('  items', (s) => s.completion_key?.items);
    row('completion deps median ms', (s) => s.completion_deps?.median);
    row('  items', (s) => s.completion_deps?.items);
    row('hover ${param} median ms', (s) => s.hover_param?.median);
    row('  has text', (s) => (s.hover_param ? Boolean(s.hover_param.text) : undefined));
    row('hover key median ms', (s) => s.hover_key?.median);
    row('  has text', (s) => (s.hover_key ? Boolean(s.hover_key.text) : undefined));
    row('re-open (warm) ms', (s) => s.reopen_ms);
    row('VmRSS MB', (s) => s.memory?.rss_mb);
    row('VmHWM MB', (s) => s.memory?.hwm_mb);
    err();
    err(table(rows));
    for (const s of servers) if (s.error) err(`\n${s.server} error: ${s.error}`);
    for (const s of servers) {
      if (!s.error && !s.verified)
        err(
          `WARNING: ${s.server} did not report the planted '${report.planted.key}' (line ${report.planted.line}) after open and every edit`,
        );
    }
  }
  if (report.ratios) {
    err();
    err(
      `ratios yaml-ls / cairn: open ${fmt(report.ratios.open)}x, edit median ${fmt(report.ratios.edit_median)}x, edit p90 ${fmt(report.ratios.edit_p90)}x`,
    );
  }
  if (report.scaling?.length) {
    err();
    err('Cairn scaling:');
    const rows = [['stages', 'lines', 'open ms', 'edit median ms', 'edit p90 ms', 'diagnostics', 'VmHWM MB']];
    for (const s of report.scaling) {
      rows.push([
        s.stages,
        s.lines,
        fmt(s.open_ms),
        fmt(s.edit_median_ms),
        fmt(s.edit_p90_ms),
        s.diagnostics ?? (s.error ? 'ERR' : '-'),
        fmt(s.hwm_mb),
      ]);
    }
    err(table(rows));
    for (const s of report.scaling) if (s.error) err(`  ${s.stages}: ${s.error.split('\n')[0]}`);
  }
  err();
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const kinds = options.only ? [options.only] : ['cairn', 'yaml'];
  const schema = pickSchema(options);
  const schemaUrl = pathToFileURL(schema.path).href;
  const workspaces = new Map();
  const workspace = (n) => {
    if (!workspaces.has(n)) workspaces.set(n, writeWorkspace(join(outRoot, `stages-${n}`), n));
    return workspaces.get(n);
  };
  const main = workspace(options.stages);

  const report = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    loadavg_before: os.loadavg().map(round),
    stages: options.stages,
    lines: main.lineCount,
    file: main.file,
    planted: { ...main.planted, line: main.planted.line + 1 },
    iterations: options.iterations,
    warmup: options.warmup,
    schema: { source: schema.source, url: schemaUrl },
    notes: [
      'yaml-language-server debounces validation by a fixed 200 ms (validationDelayMs), included in its open and edit times.',
      'Times are measured in the client, from sending the notification/request to receiving the response/publishDiagnostics.',
    ],
    servers: {},
  };

  for (const kind of kinds) {
    process.stderr.write(`running ${kind} (${options.stages} stages)...\n`);
    report.servers[kind] = await runScenario(kind, main, schemaUrl, options);
  }

  const c = report.servers.cairn;
  const y = report.servers.yaml;
  if (c && y && !c.error && !y.error) {
    const ratio = (a, b) => (a && b ? round(a / b) : null);
    report.ratios = {
      open: ratio(y.open_ms, c.open_ms),
      edit_median: ratio(y.edit.median, c.edit.median),
      edit_p90: ratio(y.edit.p90, c.edit.p90),
      completion_key: ratio(y.completion_key?.median, c.completion_key?.median),
      hover_param: ratio(y.hover_param?.median, c.hover_param?.median),
    };
  }

  if (options.scaling && kinds.includes('cairn')) {
    report.scaling = [];
    for (const n of options.sizes) {
      let r;
      if (n === options.stages && c && !c.error) r = c;
      else {
        process.stderr.write(`scaling: cairn with ${n} stages...\n`);
        r = await runScenario('cairn', workspace(n), schemaUrl, options, { full: false });
      }
      report.scaling.push({
        stages: n,
        lines: r.lines,
        open_ms: r.open_ms ?? null,
        edit_median_ms: r.edit?.median ?? null,
        edit_p90_ms: r.edit?.p90 ?? null,
        diagnostics: r.open_diagnostics?.count ?? null,
        hwm_mb: r.memory?.hwm_mb ?? null,
        ...(r.error ? { error: r.error } : {}),
      });
    }
  }

  report.loadavg_after = os.loadavg().map(round);
  printReport(report);
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  const failed = Object.values(report.servers).some((s) => s.error);
  process.exitCode = failed ? 1 : 0;
}

main().catch((error) => {
  process.stderr.write(`bench/lsp: ${error?.stack ?? error}\n`);
  for (const child of liveChildren) child.kill('SIGKILL');
  process.exit(1);
});
