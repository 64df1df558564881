// Engine tests of batch datasets on real files and a real store: each source type, schema inference,
// profile figures against hand-computed values, every check kind failing with its report, diff,
// idempotent re-import and immutable copies, and the `cairn data` command in a child process.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { runChecks } from '../../server/engine/data/checks';
import type { CheckFailure } from '../../server/engine/data/checks';
import { diffVersions } from '../../server/engine/data/diff';
import { inferSchema } from '../../server/engine/data/infer';
import { profileTable } from '../../server/engine/data/profile';
import { readSource } from '../../server/engine/data/sources';
import type { Table } from '../../server/engine/data/sources';
import { readDatasets } from '../../server/engine/data/spec';
import type { DatasetSpec } from '../../server/engine/data/spec';
import { importDataset, versionDetails } from '../../server/engine/data/versions';
import { Store } from '../../server/engine/store';
import { makeWorkspace, yaml } from '../helpers/workspace';
import { writeParquet } from './fixtures/data/parquetWriter';

const repository = path.resolve(__dirname, '../..');
const NOW = Date.parse('2024-06-01T00:00:00Z');

const PEOPLE_CSV =
  'id,age,plan,joined\n1,34,basic,2024-01-02\n2,51,pro,2024-02-03T10:00:00Z\n3,,basic,2024-03-04\n4,22,pro,2024-04-05\n5,40,basic,2024-05-06\n';

function datasetsOf(root: string): DatasetSpec[] {
  const { datasets, problems } = readDatasets(root);
  assert.deepEqual(problems, []);
  return datasets;
}

function only(root: string, name: string): DatasetSpec {
  const found = datasetsOf(root).find((dataset) => dataset.name === name);
  assert.ok(found, `dataset ${name} is declared`);
  return found;
}

async function tableOf(root: string, name: string): Promise<Table> {
  const source = only(root, name).source;
  assert.ok(source);
  return (await readSource(source, name)).table;
}

function withStore<T>(root: string, work: (store: Store) => Promise<T>): Promise<T> {
  const store = Store.open(root);
  return work(store).finally(() => store.close());
}

/** Runs the CLI from source in a child process. */
function cairn(root: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    process.execPath,
    ['--require', 'tsx/cjs', path.join(repository, 'server/cli/cairn.ts'), ...args, '--workspace', root],
    { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_PATH: path.join(repository, 'node_modules') } },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('data: sources and inference', () => {
  it('reads CSV, casting text to integers, numbers, booleans and nulls, and infers the schema', async () => {
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        datasets:
          people:
            source: {type: csv, path: data/people.csv}
      `,
      'data/people.csv': PEOPLE_CSV.replace('id,age', 'id,age,score,active').replace(
        /^(\d+),([^,]*),/gm,
        (_all, id: string, age: string) => `${id},${age},${Number(id) / 2},${Number(id) % 2 === 0},`,
      ),
    });
    const table = await tableOf(root, 'people');
    assert.deepEqual(table.rows[2], {
      id: 3,
      age: null,
      score: 1.5,
      active: false,
      plan: 'basic',
      joined: '2024-03-04',
    });
    assert.deepEqual(table.lines, [2, 3, 4, 5, 6]);
    assert.deepEqual(inferSchema(table).columns, [
      { name: 'id', type: 'integer', nullable: false },
      { name: 'age', type: 'integer', nullable: true },
      { name: 'score', type: 'number', nullable: false },
      { name: 'active', type: 'boolean', nullable: false },
      { name: 'plan', type: 'string', nullable: false },
      { name: 'joined', type: 'timestamp', nullable: false },
    ]);
  });

  it('reads JSON Lines, with columns in order of first appearance and missing keys as nulls', async () => {
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        datasets:
          events:
            source: {type: jsonl, path: data/events.jsonl}
      `,
      'data/events.jsonl': '{"id": 1, "kind": "click"}\n\n{"id": 2, "kind": "view", "ms": 1.5}\n{"id": 3, "kind": 7}\n',
    });
    const table = await tableOf(root, 'events');
    assert.deepEqual(table.columns, ['id', 'kind', 'ms']);
    assert.deepEqual(table.lines, [1, 3, 4]);
    assert.deepEqual(inferSchema(table).columns, [
      { name: 'id', type: 'integer', nullable: false },
      // a column holding texts and numbers is a string column
      { name: 'kind', type: 'string', nullable: false },
      { name: 'ms', type: 'number', nullable: true },
    ]);
  });

  it('names the file, the line and the fix for a JSON Lines line that is not JSON', async () => {
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        datasets:
          events:
            source: {type: jsonl, path: data/events.jsonl}
      `,
      'data/events.jsonl': '{"id": 1}\n{"id": 2,,}\n',
    });
    await assert.rejects(tableOf(root, 'events'), (error: Error) => {
      assert.match(error.message, /^events:2: not valid JSON .*Each line must hold one JSON object\.$/);
      return true;
    });
  });

  it('reads Parquet (an uncompressed file written from the format specification)', async () => {
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        datasets:
          cities:
            source: {type: parquet, path: data/cities.parquet}
      `,
      'data/': '',
    });
    fs.writeFileSync(
      path.join(root, 'data/cities.parquet'),
      writeParquet([
        { name: 'id', type: 'int64', values: [1, 2, 3] },
        { name: 'temperature', type: 'double', values: [12.5, null, -3.25] },
        { name: 'city', type: 'utf8', values: ['Oslo', 'Lima', 'Oslo'] },
        { name: 'coastal', type: 'boolean', values: [true, true, false] },
      ]),
    );
    const table = await tableOf(root, 'cities');
    assert.deepEqual(table.rows, [
      { id: 1, temperature: 12.5, city: 'Oslo', coastal: true },
      { id: 2, temperature: null, city: 'Lima', coastal: true },
      { id: 3, temperature: -3.25, city: 'Oslo', coastal: false },
    ]);
    assert.deepEqual(
      inferSchema(table).columns.map((column) => `${column.name}:${column.type}:${column.nullable}`),
      ['id:integer:false', 'temperature:number:true', 'city:string:false', 'coastal:boolean:false'],
    );
  });

  it('refuses the ZSTD Parquet file of vega-datasets on Node 20 with the codec and the fix', async function () {
    this.timeout(60000);
    const flights = path.join(repository, 'node_modules/vega-datasets/data/flights-3m.parquet');
    const reading = readSource({ type: 'parquet', path: flights, options: {} }, 'flights-3m.parquet');
    // node:zlib decompresses ZSTD from Node 22.15 on; there the whole file is read instead.
    if ('zstdDecompressSync' in (await import('node:zlib'))) {
      assert.equal((await reading).table.rows.length, 3_000_000);
      return;
    }
    await assert.rejects(reading, {
      message:
        'flights-3m.parquet: cannot read Parquet (parquet unsupported compression codec: ZSTD). Write the file with GZIP, BROTLI, SNAPPY or no compression.',
    });
  });

  it('reads a SQLite table and a query, opened read-only', async () => {
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        datasets:
          orders:
            source: {type: sqlite, path: data/shop.db, table: orders}
          big_orders:
            source: {type: sqlite, path: data/shop.db, query: "SELECT id, total FROM orders WHERE total > 10 ORDER BY id"}
      `,
      'data/': '',
    });
    const database = new Database(path.join(root, 'data/shop.db'));
    database.exec(
      "CREATE TABLE orders (id INTEGER, total REAL, note TEXT); INSERT INTO orders VALUES (1, 9.5, 'a'), (2, 20, NULL), (3, 12.25, 'c');",
    );
    database.close();
    const orders = await tableOf(root, 'orders');
    assert.deepEqual(orders.columns, ['id', 'total', 'note']);
    assert.deepEqual(orders.rows[1], { id: 2, total: 20, note: null });
    const big = await tableOf(root, 'big_orders');
    assert.deepEqual(big.rows, [
      { id: 2, total: 20 },
      { id: 3, total: 12.25 },
    ]);
  });

  it('reports a bad datasets section with file, line and fix, through the schema', () => {
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        datasets:
          people:
            source: {type: xlsx, path: data/people.xlsx}
          outside:
            source: {type: csv, path: ../elsewhere.csv}
      `,
    });
    const { problems } = readDatasets(root);
    assert.equal(problems.length, 2);
    assert.equal(problems[0]?.line, 3);
    assert.match(problems[0]?.message ?? '', /^dataset 'people': .*csv/);
    assert.equal(problems[1]?.line, 5);
    assert.match(problems[1]?.message ?? '', /leaves the workspace\. Move the data inside the workspace\.$/);
  });
});

describe('data: profiles', () => {
  it('computes min, max, mean, sample std, quantiles, null share, distinct and top values', () => {
    const table: Table = {
      columns: ['age', 'plan', 'seen'],
      rows: [
        { age: 34, plan: 'basic', seen: '2024-01-02' },
        { age: 51, plan: 'pro', seen: '2024-03-01T00:00:00Z' },
        { age: null, plan: 'basic', seen: null },
        { age: 22, plan: 'pro', seen: '2023-12-31' },
        { age: 40, plan: 'basic', seen: '2024-02-01' },
      ],
    };
    const [age, plan, seen] = profileTable(table, inferSchema(table)).columns;
    // By hand: values 22, 34, 40, 51; mean 147/4; squared deviations sum to 438.75, over n - 1 = 3.
    assert.equal(age?.min, 22);
    assert.equal(age?.max, 51);
    assert.equal(age?.mean, 36.75);
    assert.ok(Math.abs((age?.std ?? 0) - Math.sqrt(146.25)) < 1e-12);
    // Linear interpolation at (n - 1) p: p5 at 0.15 → 22 + 0.15·12, p25 at 0.75 → 22 + 0.75·12,
    // p50 at 1.5 → 34 + 0.5·6, p75 at 2.25 → 40 + 0.25·11, p95 at 2.85 → 40 + 0.85·11.
    const quantiles = age?.quantiles ?? { p5: 0, p25: 0, p50: 0, p75: 0, p95: 0 };
    assert.ok(Math.abs(quantiles.p5 - 23.8) < 1e-12);
    assert.equal(quantiles.p25, 31);
    assert.equal(quantiles.p50, 37);
    assert.equal(quantiles.p75, 42.75);
    assert.ok(Math.abs(quantiles.p95 - 49.35) < 1e-12);
    assert.equal(age?.null_share, 0.2);
    assert.equal(age?.nulls, 1);
    assert.equal(age?.distinct, 4);
    assert.deepEqual(plan?.top, [
      { value: 'basic', count: 3 },
      { value: 'pro', count: 2 },
    ]);
    assert.equal(plan?.distinct, 2);
    assert.equal(plan?.mean, undefined);
    assert.equal(seen?.type, 'timestamp');
    assert.equal(seen?.min, '2023-12-31');
    assert.equal(seen?.max, '2024-03-01T00:00:00Z');
  });
});

describe('data: checks', () => {
  const table: Table = {
    columns: ['id', 'age', 'plan', 'at'],
    rows: [
      { id: 1, age: 34, plan: 'basic', at: '2024-05-30T00:00:00Z' },
      { id: 2, age: 130, plan: 'gold', at: '2024-05-01' },
      { id: 2, age: null, plan: 'pro', at: 'yesterday' },
      { id: 3, age: -1, plan: 'pro', at: '2024-05-02' },
      { id: 4, age: 'old', plan: 'basic', at: '2024-05-03' },
      { id: 4, age: 150, plan: null, at: '2024-05-04' },
      { id: 4, age: 200, plan: 'team', at: '2024-05-05' },
      { id: 4, age: 300, plan: 'team', at: '2024-05-06' },
      { id: 4, age: 400, plan: 'team', at: '2024-05-07' },
    ],
    lines: [2, 3, 4, 5, 6, 7, 8, 9, 10],
  };

  /** The failures of one check, declared as in a pipeline file. */
  function failuresOf(check: string, now = NOW): CheckFailure[] {
    const root = makeWorkspace({
      'pipeline.yaml': `datasets:\n  people:\n    source: {type: csv, path: people.csv}\n    checks:\n      - ${check}\n`,
    });
    return runChecks(table, only(root, 'people'), now);
  }

  it('range: counts the violating rows and shows five examples with row and line numbers', () => {
    const [failure, ...rest] = failuresOf('{column: age, range: {min: 0, max: 120}}');
    assert.equal(rest.length, 0);
    assert.equal(failure?.column, 'age');
    assert.equal(failure?.rule, 'range [0, 120]');
    assert.equal(failure?.specLine, 5);
    assert.equal(failure?.violations, 7);
    assert.deepEqual(failure?.examples, [
      { row: 2, line: 3, value: 130 },
      { row: 4, line: 5, value: -1 },
      { row: 5, line: 6, value: 'old' },
      { row: 6, line: 7, value: 150 },
      { row: 7, line: 8, value: 200 },
    ]);
  });

  it('type, not_null, allowed, unique: each names its rule and its violations', () => {
    const type = failuresOf('{column: age, type: integer}');
    assert.deepEqual(
      type.map((failure) => [failure.rule, failure.violations, failure.examples]),
      [['type integer', 1, [{ row: 5, line: 6, value: 'old' }]]],
    );
    const notNull = failuresOf('{column: plan, not_null: true}');
    assert.deepEqual(
      notNull.map((failure) => [failure.rule, failure.violations, failure.examples]),
      [['not_null', 1, [{ row: 6, line: 7, value: null }]]],
    );
    const allowed = failuresOf('{column: plan, allowed: [basic, pro]}');
    assert.equal(allowed[0]?.rule, 'allowed ["basic", "pro"]');
    assert.equal(allowed[0]?.violations, 4);
    assert.deepEqual(
      allowed[0]?.examples.map((example) => example.value),
      ['gold', 'team', 'team', 'team'],
    );
    const unique = failuresOf('{column: id, unique: true}');
    assert.equal(unique[0]?.violations, 5);
    assert.deepEqual(
      unique[0]?.examples.map((example) => example.row),
      [3, 6, 7, 8, 9],
    );
  });

  it('rows and freshness, and a check on a column that does not exist', () => {
    const rows = failuresOf('{rows: {min: 10, max: 100}}');
    assert.equal(rows[0]?.rule, 'rows [10, 100]');
    assert.equal(rows[0]?.violations, 9);
    assert.deepEqual(failuresOf('{rows: {min: 9, max: 9}}'), []);
    assert.deepEqual(failuresOf('{freshness: {column: at, max_age: 3d}}'), []);
    const stale = failuresOf('{freshness: {column: at, max_age: 1d}}');
    assert.equal(stale[0]?.rule, 'freshness max_age 1d');
    assert.deepEqual(stale[0]?.examples, [{ row: 1, line: 2, value: '2024-05-30T00:00:00Z' }]);
    const missing = failuresOf('{column: agee, not_null: true}');
    assert.match(missing[0]?.message ?? '', /column 'agee' is not in the data \(its columns: id, age, plan, at\)/);
  });
});

describe('data: versions and diff', () => {
  it('imports a version, copies it read-only, re-imports identical content as unchanged, then diffs', async () => {
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        datasets:
          people:
            source: {type: csv, path: data/people.csv}
            schema:
              columns:
                id: {type: integer, nullable: false}
            checks:
              - {column: age, range: {min: 0, max: 120}}
      `,
      'data/people.csv': PEOPLE_CSV,
    });
    const dataset = only(root, 'people');
    await withStore(root, async (store) => {
      const first = await importDataset(store, root, dataset, NOW);
      assert.equal(first.status, 'created');
      assert.equal(first.version, 1);
      const copy = path.join(root, '.cairn/data/people/v1/people.csv');
      assert.equal(fs.readFileSync(copy, 'utf8'), PEOPLE_CSV);
      assert.equal(fs.statSync(copy).mode & 0o222, 0, 'the copy is read-only');
      const again = await importDataset(store, root, dataset, NOW + 1000);
      assert.deepEqual([again.status, again.version], ['unchanged', 1]);
      assert.equal(store.datasetVersions('people').length, 1);

      // v2: a new column, a changed distribution, and nulls gone from age.
      fs.writeFileSync(
        path.join(root, 'data/people.csv'),
        'id,age,plan,joined,city\n1,34,basic,2024-01-02,Oslo\n2,51,team,2024-02-03,Lima\n3,60,team,2024-03-04,Oslo\n',
      );
      const second = await importDataset(store, root, dataset, NOW + 2000);
      assert.deepEqual([second.status, second.version], ['created', 2]);
      const [v1, v2] = store.datasetVersions('people');
      assert.ok(v1 && v2);
      assert.equal(v2.path, '.cairn/data/people/v2/people.csv');
      assert.equal(v1.rows, 5);
      const diff = diffVersions({ rows: v1.rows, ...versionDetails(v1) }, { rows: v2.rows, ...versionDetails(v2) });
      assert.deepEqual(diff.rows, { from: 5, to: 3 });
      assert.deepEqual(diff.added, [{ name: 'city', type: 'string', nullable: false }]);
      assert.deepEqual(diff.removed, []);
      const age = diff.changed.find((shift) => shift.column === 'age');
      assert.deepEqual(age?.nullable, { from: true, to: false });
      assert.deepEqual(age?.mean, { from: 36.75, to: 145 / 3 });
      assert.deepEqual(age?.null_share, { from: 0.2, to: 0 });
      assert.deepEqual(age?.quantiles?.['p50'], { from: 37, to: 51 });
      const plan = diff.changed.find((shift) => shift.column === 'plan');
      assert.deepEqual(plan?.top, { added: ['team'], removed: ['pro'] });
      const joined = diff.changed.find((shift) => shift.column === 'joined');
      assert.deepEqual(Object.keys(joined ?? {}), ['column', 'top'], 'joined keeps its type; only its top values move');

      // A failing check records nothing and leaves the earlier copies as they were.
      fs.writeFileSync(path.join(root, 'data/people.csv'), 'id,age\n1,34\n,130\n');
      const failed = await importDataset(store, root, dataset, NOW + 3000);
      assert.equal(failed.status, 'failed');
      assert.deepEqual(
        failed.failures.map((failure) => [failure.column, failure.rule, failure.violations]),
        [
          ['id', 'nullable: false', 1],
          ['age', 'range [0, 120]', 1],
        ],
      );
      assert.equal(store.datasetVersions('people').length, 2);
      assert.equal(fs.existsSync(path.join(root, '.cairn/data/people/v3')), false);
      assert.equal(fs.readFileSync(copy, 'utf8'), PEOPLE_CSV);
    });
  });

  it('cairn data: import, versions, diff and a failing check, as a user runs them', function () {
    this.timeout(30000);
    const root = makeWorkspace({
      'pipeline.yaml': yaml`
        datasets:
          people:
            source: {type: csv, path: data/people.csv}
            checks:
              - {column: age, range: {min: 0, max: 120}}
      `,
      'data/people.csv': PEOPLE_CSV,
    });
    const imported = cairn(root, 'data', 'import');
    assert.equal(imported.status, 0, imported.stderr);
    assert.match(imported.stdout, /^people: v1 created \(5 rows, 133 B, md5 [0-9a-f]{32}\)\n$/);
    fs.appendFileSync(path.join(root, 'data/people.csv'), '6,29,pro,2024-05-07\n');
    assert.equal(cairn(root, 'data', 'import', 'people').status, 0);
    const versions = cairn(root, 'data', 'versions', 'people', '--json');
    const listed = JSON.parse(versions.stdout) as { versions: { version: number; rows: number; source: string }[] };
    assert.deepEqual(
      listed.versions.map((version) => [version.version, version.rows, version.source]),
      [
        [1, 5, 'csv:data/people.csv'],
        [2, 6, 'csv:data/people.csv'],
      ],
    );
    const diff = cairn(root, 'data', 'diff', 'people', 'v1', '2');
    assert.equal(diff.status, 0, diff.stderr);
    assert.match(diff.stdout, /^people v1 → v2\n {2}rows: 5 → 6\n {2}~ id\n/);

    fs.appendFileSync(path.join(root, 'data/people.csv'), '7,130,pro,2024-05-08\n');
    const failed = cairn(root, 'data', 'import');
    assert.equal(failed.status, 1);
    assert.equal(
      failed.stdout,
      "people: checks failed, no version recorded\n  pipeline.yaml:5: column 'age': range [0, 120]: 1 violating row. Fix the data, or change the check if the data is right.\n      row 7 (line 8): 130\n",
    );
    assert.equal(cairn(root, 'data', 'check', 'people').status, 1);
    const unknown = cairn(root, 'data', 'versions', 'peple');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /No dataset 'peple' in the pipeline files\. Did you mean 'people'\?/);
    assert.doesNotMatch(unknown.stderr + failed.stderr, /\n\s+at /, 'no stack trace');
  });
});
