// Tracking benchmark, in three parts, printing JSON figures to stdout:
//   1. one run logs 1,000,000 metric points (batches of 10,000, each one transaction); target < 5 s;
//   2. 4 processes at once each log 250,000 points into the same store; every point must arrive and
//      no writer may see "database is locked";
//   3. 100,000 runs with 5 params and 5 metrics each; filter and sort one page in the engine
//      (target < 50 ms), best of several rounds after a warm-up.
//
// Usage: node --import tsx bench/tracking.mjs [--points 1000000] [--writers 4] [--runs 100000]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Store } from '../server/engine/store.ts';
import { queryRuns } from '../server/engine/tracking/query.ts';
import { paramNumber, Tracker } from '../server/engine/tracking/tracker.ts';

const BATCH = 10_000;

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

/** Logs `count` points of three metrics into a new run of the store at `root`; returns the run id. */
function logPoints(tracker, count, name) {
  const runId = tracker.startRun({ experiment: 'bench', name });
  const keys = ['loss', 'accuracy', 'learning_rate'];
  const start = Date.now();
  for (let done = 0; done < count; done += BATCH) {
    const points = [];
    for (let index = done; index < Math.min(count, done + BATCH); index++) {
      points.push({
        key: keys[index % 3],
        value: Math.random(),
        step: Math.floor(index / 3),
        timestamp: start + index,
      });
    }
    tracker.logMetrics(runId, points);
  }
  tracker.endRun(runId, 'succeeded');
  return runId;
}

async function worker() {
  const [root, count, name] = process.argv.slice(3);
  const tracker = Tracker.open(root);
  let errors = 0;
  let runId;
  try {
    runId = logPoints(tracker, Number(count), name);
  } catch (error) {
    errors++;
    process.stderr.write(`${error.code ?? ''} ${error.message}\n`);
  }
  tracker.close();
  process.stdout.write(JSON.stringify({ runId, errors }));
}

function runWorker(root, count, name) {
  return new Promise((resolve, reject) => {
    const script = fileURLToPath(import.meta.url);
    const child = spawn(process.execPath, ['--import', 'tsx', script, 'worker', root, String(count), name], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`worker exited ${code}`))));
  });
}

function temporaryWorkspace(label) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cairn-bench-tracking-${label}-`));
}

function singleWriter(points) {
  const root = temporaryWorkspace('single');
  const tracker = Tracker.open(root);
  const started = performance.now();
  const runId = logPoints(tracker, points, 'single');
  const seconds = (performance.now() - started) / 1000;
  const stored = tracker.store.db
    .prepare('SELECT COUNT(*) AS n FROM metric_history WHERE run = ?')
    .get(tracker.runSeq(runId)).n;
  tracker.close();
  fs.rmSync(root, { recursive: true, force: true });
  return { points, stored, seconds: round(seconds), pointsPerSecond: Math.round(points / seconds), target: '< 5 s' };
}

async function concurrentWriters(writers, points) {
  const root = temporaryWorkspace('concurrent');
  // Migrate once before the writers start, so they do not race to create the schema.
  Store.open(root).close();
  const each = Math.floor(points / writers);
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: writers }, (_, index) => runWorker(root, each, `writer-${index}`)),
  );
  const seconds = (performance.now() - started) / 1000;
  const store = Store.open(root);
  const stored = store.db.prepare('SELECT COUNT(*) AS n FROM metric_history').get().n;
  const perRun = results.map(
    (result) =>
      store.db
        .prepare('SELECT COUNT(*) AS n FROM metric_history WHERE run = (SELECT seq FROM tracked_runs WHERE id = ?)')
        .get(result.runId).n,
  );
  store.close();
  fs.rmSync(root, { recursive: true, force: true });
  return {
    writers,
    pointsPerWriter: each,
    expected: each * writers,
    stored,
    perWriter: perRun,
    lost: each * writers - stored,
    lockedErrors: results.reduce((sum, result) => sum + result.errors, 0),
    seconds: round(seconds),
  };
}

/** 100,000 runs written straight into the tables in one transaction (the API is measured above). */
function buildRuns(tracker, count) {
  const db = tracker.store.db;
  const experimentId = tracker.getOrCreateExperiment('sweep');
  const models = ['tree', 'linear', 'forest', 'boosting'];
  const teams = ['a', 'b', 'c'];
  const insertRun = db.prepare(
    `INSERT INTO tracked_runs (seq, id, experiment_id, name, status, start_time, end_time) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertParam = db.prepare('INSERT INTO run_params (run, key, value, number) VALUES (?, ?, ?, ?)');
  const insertLatest = db.prepare(
    'INSERT INTO latest_metrics (run, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)',
  );
  const insertHistory = db.prepare(
    'INSERT INTO metric_history (run, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)',
  );
  const insertTag = db.prepare('INSERT INTO run_tags (run, key, value) VALUES (?, ?, ?)');
  const start = Date.UTC(2026, 0, 1);
  db.transaction(() => {
    for (let index = 0; index < count; index++) {
      const id = `run${String(index).padStart(8, '0')}`;
      const time = start + index * 1000;
      const seq = index + 1;
      insertRun.run(
        seq,
        id,
        experimentId,
        `sweep-${index}`,
        index % 50 === 0 ? 'failed' : 'succeeded',
        time,
        time + 60_000 + (index % 997),
      );
      const params = {
        model: models[index % 4],
        lr: String(10 ** -(1 + (index % 4))),
        depth: String(2 + (index % 10)),
        seed: String(index),
        batch: String(2 ** (4 + (index % 4))),
      };
      for (const [key, value] of Object.entries(params)) insertParam.run(seq, key, value, paramNumber(value));
      const metrics = {
        auc: 0.5 + ((index * 7919) % 5000) / 10_000,
        loss: ((index * 104_729) % 10_000) / 10_000,
        accuracy: 0.6 + ((index * 31) % 4000) / 10_000,
        f1: ((index * 17) % 1000) / 1000,
        rmse: ((index * 13) % 700) / 100,
      };
      for (const [key, value] of Object.entries(metrics)) {
        insertLatest.run(seq, key, value, 10, time);
        insertHistory.run(seq, key, value, 10, time);
      }
      insertTag.run(seq, 'team', teams[index % 3]);
    }
  }).immediate();
}

function queries(runs) {
  const root = temporaryWorkspace('query');
  const tracker = Tracker.open(root);
  const built = performance.now();
  buildRuns(tracker, runs);
  const buildSeconds = (performance.now() - built) / 1000;
  tracker.store.db.exec('ANALYZE');
  const cases = [
    { name: 'sort only', query: { sort: 'metrics.auc DESC', limit: 100 } },
    {
      name: 'filter + sort',
      query: { filter: "metrics.auc >= 0.8 AND params.model = 'tree'", sort: 'metrics.auc DESC', limit: 100 },
    },
    {
      name: 'OR / IN / LIKE + sort',
      query: {
        filter: "metrics.auc >= 0.8 AND (params.model = 'tree' OR tags.team IN ('a','b')) AND name LIKE 'sweep-1%'",
        sort: 'metrics.loss ASC',
        limit: 100,
      },
    },
    // Worst cases: a filter almost nothing passes reads every run; an attribute sort without an index.
    { name: 'rare match, newest first', query: { filter: "metrics.auc > 0.9995 AND tags.team = 'a'", limit: 100 } },
    { name: 'common match, newest first', query: { filter: 'metrics.auc > 0.5', limit: 100 } },
    {
      name: 'sort by name',
      query: { filter: "metrics.auc > 0.5 AND params.model = 'tree'", sort: 'name', limit: 100 },
    },
    { name: 'sort by duration', query: { filter: "status = 'succeeded'", sort: 'duration DESC', limit: 100 } },
    {
      name: 'param sort, page 10',
      query: { filter: 'params.lr < 0.01', sort: 'params.depth DESC', limit: 100, offset: 1000 },
    },
  ];
  const results = cases.map(({ name, query }) => {
    let rows = queryRuns(tracker.store.db, query);
    let best = Infinity;
    for (let round = 0; round < 7; round++) {
      const started = performance.now();
      rows = queryRuns(tracker.store.db, query);
      best = Math.min(best, performance.now() - started);
    }
    return { name, ...query, rows: rows.length, firstRun: rows[0]?.name, bestMs: round(best) };
  });
  tracker.close();
  fs.rmSync(root, { recursive: true, force: true });
  return { runs, buildSeconds: round(buildSeconds), target: '< 50 ms', cases: results };
}

function round(value) {
  return Math.round(value * 1000) / 1000;
}

if (process.argv[2] === 'worker') {
  await worker();
} else {
  const single = singleWriter(option('points', 1_000_000));
  const concurrent = await concurrentWriters(option('writers', 4), option('points', 1_000_000));
  const query = queries(option('runs', 100_000));
  process.stdout.write(`${JSON.stringify({ node: process.version, single, concurrent, query }, null, 2)}\n`);
}
