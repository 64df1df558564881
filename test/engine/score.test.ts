// `cairn score` through the built CLI on real files: CSV, JSON Lines and Parquet in, CSV and JSON
// Lines out, every answer equal to onnxruntime's on the same rows in one run; --id kept; --json
// progress lines; bad input named by file, line, row and column with nothing left behind; Ctrl-C
// stops with exit 130 and the rows scored so far in OUTPUT.partial.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseCsvText } from 'csv-parse/sync';
import * as ort from 'onnxruntime-node';
import { writeLogisticModel } from '../helpers/onnx';
import { writeFailingModel, writeMultiInputModel } from '../helpers/servingModels';
import { makeWorkspace } from '../helpers/workspace';
import { writeParquet } from './fixtures/data/parquetWriter';
import { CsvSplitter } from '../../server/engine/serving/score';

const repository = path.resolve(__dirname, '../..');
const cli = path.join(repository, 'dist/cli/cairn.js');
const FEATURES = ['temp_max', 'precipitation', 'wind'];
const WEIGHTS = [0.08, 0.9, -0.3];

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cairn(root: string, ...args: string[]): Result {
  const result = spawnSync(process.execPath, [cli, ...args, '--workspace', root], { cwd: root, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Rows of weather-like features, different on every row. */
function rowsOf(count: number): { id: string; temp_max: number; precipitation: number; wind: number }[] {
  return Array.from({ length: count }, (_, index) => ({
    id: `day-${index}`,
    temp_max: Math.round(Math.sin(index) * 150) / 10,
    precipitation: (index * 7) % 13,
    wind: Math.round(((index * 3) % 17) * 0.7 * 100) / 100,
  }));
}

/** What onnxruntime answers on all the rows in one run, as float32 values. */
async function expectedProbabilities(model: string, rows: ReturnType<typeof rowsOf>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model);
  const data = Float32Array.from(rows.flatMap((row) => FEATURES.map((name) => row[name as 'wind'])));
  const result = await session.run({ features: new ort.Tensor('float32', data, [rows.length, FEATURES.length]) });
  return result['probability']?.data as Float32Array;
}

function csvOf(rows: ReturnType<typeof rowsOf>): string {
  return `id,${FEATURES.join(',')}\n${rows.map((row) => [row.id, ...FEATURES.map((name) => row[name as 'wind'])].join(',')).join('\n')}\n`;
}

describe('cairn score (batch scoring)', function () {
  this.timeout(120000);
  let root: string;
  let model: string;

  before(() => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: repository, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
    root = makeWorkspace({});
    model = writeLogisticModel(root, 'models/rain.onnx', WEIGHTS, -1.2, { feature_names: JSON.stringify(FEATURES) });
    assert.equal(cairn(root, 'models', 'register', 'rain', 'models/rain.onnx').status, 0);
    assert.equal(cairn(root, 'models', 'alias', 'rain', 'champion', '1').status, 0);
  });

  it('scores a CSV file in batches with NAME@ALIAS, the id column first, the answers onnxruntime gives', async () => {
    const rows = rowsOf(2500);
    fs.writeFileSync(path.join(root, 'days.csv'), csvOf(rows));
    const result = cairn(root, 'score', 'rain@champion', 'days.csv', 'out/scores.csv', '--batch', '300', '--id', 'id');
    assert.equal(result.status, 0, result.stderr);
    assert.match(
      result.stdout,
      /^Scored 2500 rows with rain:1 in [0-9.]+ s \([0-9]+ rows\/s\): out\/scores\.csv \(id, probability\)\n$/,
    );
    const lines = fs.readFileSync(path.join(root, 'out/scores.csv'), 'utf8').trim().split('\n');
    assert.equal(lines[0], 'id,probability');
    assert.equal(lines.length, 2501);
    const expected = await expectedProbabilities(model, rows);
    lines.slice(1).forEach((line, index) => {
      const [id, probability] = line.split(',');
      assert.equal(id, rows[index]?.id);
      assert.equal(Math.fround(Number(probability)), expected[index], `row ${index + 1}`);
    });
    assert.ok(!fs.existsSync(path.join(root, 'out/scores.csv.partial')));
  });

  it('scores JSON Lines with NAME:VERSION and Parquet with an .onnx path, into JSON Lines and CSV', async () => {
    const rows = rowsOf(1000);
    const expected = await expectedProbabilities(model, rows);
    fs.writeFileSync(path.join(root, 'days.jsonl'), rows.map((row) => JSON.stringify(row)).join('\n') + '\n');
    let result = cairn(root, 'score', 'rain:1', 'days.jsonl', 'scores.jsonl', '--id', 'id', '--batch', '64');
    assert.equal(result.status, 0, result.stderr);
    const answers = fs
      .readFileSync(path.join(root, 'scores.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; probability: number });
    assert.equal(answers.length, 1000);
    answers.forEach((answer, index) => {
      assert.deepEqual(Object.keys(answer), ['id', 'probability']);
      assert.equal(answer.id, rows[index]?.id);
      assert.equal(Math.fround(answer.probability), expected[index]);
    });

    fs.writeFileSync(
      path.join(root, 'days.parquet'),
      writeParquet([
        { name: 'id', type: 'utf8', values: rows.map((row) => row.id) },
        ...FEATURES.map((name) => ({
          name,
          type: 'double' as const,
          values: rows.map((row) => row[name as 'wind']),
        })),
      ]),
    );
    result = cairn(root, 'score', 'models/rain.onnx', 'days.parquet', 'from-parquet.csv', '--batch', '128');
    assert.equal(result.status, 0, result.stderr);
    const lines = fs.readFileSync(path.join(root, 'from-parquet.csv'), 'utf8').trim().split('\n');
    assert.equal(lines[0], 'probability');
    assert.deepEqual(
      lines.slice(1).map((line) => Math.fround(Number(line))),
      Array.from(expected),
    );
  });

  it('feeds a model with several inputs by name, lists for wide inputs, booleans as booleans', () => {
    writeMultiInputModel(root, 'models/multi.onnx');
    const rows = [
      { key: 'a', x: [1, 2, 3], count: 4, mask: true },
      { key: 'b', x: [0.5, 0.25, 0], count: -1, mask: false },
    ];
    fs.writeFileSync(path.join(root, 'multi.jsonl'), rows.map((row) => JSON.stringify(row)).join('\n'));
    const result = cairn(root, 'score', 'models/multi.onnx', 'multi.jsonl', 'multi-out.jsonl', '--id', 'key');
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(
      fs
        .readFileSync(path.join(root, 'multi-out.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown),
      [
        { key: 'a', total: 10, flag: true },
        { key: 'b', total: -0.25, flag: false },
      ],
    );
  });

  it('prints JSON progress lines and a summary with --json', () => {
    fs.writeFileSync(path.join(root, 'many.csv'), csvOf(rowsOf(3000)));
    const result = cairn(root, 'score', 'rain@champion', 'many.csv', 'many.jsonl', '--batch', '1000', '--json');
    assert.equal(result.status, 0, result.stderr);
    const events = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; rows: number; total?: number; status?: string });
    const progress = events.filter((event) => event.event === 'progress');
    assert.ok(progress.length >= 1);
    assert.deepEqual(progress.at(-1), { ...progress.at(-1), rows: 3000, total: 3000 });
    for (let index = 1; index < progress.length; index++)
      assert.ok((progress[index]?.rows ?? 0) > (progress[index - 1]?.rows ?? 0));
    const done = events.at(-1);
    assert.deepEqual(done, { ...done, event: 'done', status: 'succeeded', rows: 3000, batches: 3 });
  });

  it('names the file, line, row and column of bad input, and leaves no output behind', () => {
    const rows = rowsOf(10);
    const good = csvOf(rows).split('\n');
    // Line 7 is the sixth row: a word where wind, a number, belongs.
    good[6] = `${rows[5]?.id ?? ''},1,2,windy`;
    fs.writeFileSync(path.join(root, 'bad.csv'), good.join('\n'));
    let result = cairn(root, 'score', 'rain@champion', 'bad.csv', 'bad-out.csv', '--batch', '4');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /bad\.csv:7: Column 'wind' holds numbers .*row 6 has "windy"/);
    assert.ok(!fs.existsSync(path.join(root, 'bad-out.csv')));
    assert.ok(!fs.existsSync(path.join(root, 'bad-out.csv.partial')));

    fs.writeFileSync(path.join(root, 'nowind.csv'), 'id,temp_max,precipitation\nx,1,2\n');
    result = cairn(root, 'score', 'rain@champion', 'nowind.csv', 'nowind-out.csv');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /nowind\.csv:1: no column 'wind'; the model reads temp_max, precipitation, wind/);

    fs.writeFileSync(
      path.join(root, 'gap.jsonl'),
      `${JSON.stringify(rows[0])}\n\n${JSON.stringify({ id: 'y', temp_max: 1, wind: 2 })}\n`,
    );
    result = cairn(root, 'score', 'rain@champion', 'gap.jsonl', 'gap-out.jsonl');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /gap\.jsonl:3: no column 'precipitation'/);

    result = cairn(root, 'score', 'rain@champion', 'days.csv', 'out.csv', '--id', 'day');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /days\.csv:1: no column 'day'/);
    result = cairn(root, 'score', 'rain@staging', 'days.csv', 'out.csv');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /no alias 'staging'/);
    result = cairn(root, 'score', 'rain@champion', 'days.csv', 'out.parquet');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /out\.parquet: unknown output format/);
  });

  it('says which rows a model failed on, exit 1, and leaves no output behind', () => {
    writeFailingModel(root, 'models/failing.onnx', 3, { feature_names: JSON.stringify(FEATURES) });
    fs.writeFileSync(path.join(root, 'few.csv'), csvOf(rowsOf(5)));
    const result = cairn(root, 'score', 'models/failing.onnx', 'few.csv', 'failed.csv');
    assert.equal(result.status, 1);
    assert.match(result.stderr, /failing\.onnx: the model failed on rows 1-5 of few\.csv \(/);
    assert.ok(!fs.existsSync(path.join(root, 'failed.csv')));
    assert.ok(!fs.existsSync(path.join(root, 'failed.csv.partial')));
  });

  it('splits CSV arriving in chunks cut anywhere into the records csv-parse reads, with their lines', () => {
    const text =
      '\ufeffid,name,note\r\n1,plain,x\r\n\r\n2,"with, comma","say ""hi"""\n3,"two\nlines",y\n4,,""\n5,last,"end"';
    const expected = parseCsvText(text, {
      bom: true,
      skip_empty_lines: true,
      record_delimiter: ['\r\n', '\n'],
    }) as string[][];
    for (let cut = 0; cut <= text.length; cut++) {
      for (const step of [1, 3, text.length]) {
        const splitter = new CsvSplitter('t.csv');
        const records = splitter.push(text.slice(0, cut));
        for (let start = cut; start < text.length; start += step)
          records.push(...splitter.push(text.slice(start, start + step)));
        records.push(...splitter.end());
        const where = `cut at ${cut}, step ${step}`;
        assert.deepEqual(
          records.map((record) => record.fields),
          expected,
          where,
        );
        assert.deepEqual(
          records.map((record) => record.line),
          [1, 2, 4, 5, 7, 8],
          where,
        );
      }
    }
    const open = new CsvSplitter('open.csv');
    open.push('a,b\n1,"never closed\n');
    assert.throws(() => open.end(), /open\.csv:2: a quoted field is not closed/);
  });

  it('stops on Ctrl-C with exit 130, the rows scored so far in OUTPUT.partial and no OUTPUT', async () => {
    const big = path.join(root, 'big.csv');
    const row = (index: number): string => `r${index},${index % 31},${index % 7},${index % 11}\n`;
    const descriptor = fs.openSync(big, 'w');
    fs.writeSync(descriptor, `id,${FEATURES.join(',')}\n`);
    for (let start = 0; start < 1_500_000; start += 50_000) {
      let chunk = '';
      for (let index = start; index < start + 50_000; index++) chunk += row(index);
      fs.writeSync(descriptor, chunk);
    }
    fs.closeSync(descriptor);
    const child = spawn(
      process.execPath,
      [
        cli,
        'score',
        'rain@champion',
        'big.csv',
        'big-out.csv',
        '--id',
        'id',
        '--batch',
        '2000',
        '--json',
        '--workspace',
        root,
      ],
      { cwd: root },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('"event":"progress"')) resolve();
      });
    });
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    const done = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { status: string; rows: number };
    assert.equal(done.status, 'cancelled');
    assert.ok(done.rows > 0 && done.rows < 1_500_000, String(done.rows));
    assert.ok(!fs.existsSync(path.join(root, 'big-out.csv')));
    assert.match(
      stderr,
      new RegExp(`stopped after ${done.rows} rows; the rows scored so far are in big-out\\.csv\\.partial`),
    );
    const lines = fs.readFileSync(path.join(root, 'big-out.csv.partial'), 'utf8').split('\n');
    assert.equal(lines.at(-1), '', 'the partial file ends with a whole row');
    assert.equal(lines.length - 2, done.rows);
    assert.equal(lines[done.rows]?.split(',')[0], `r${done.rows - 1}`);
    // The input is 40 MB; the temp folder need not keep it.
    fs.rmSync(big);
  });
});
