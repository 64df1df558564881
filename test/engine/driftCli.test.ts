// `cairn monitor drift` end to end, through the built CLI, on real files: vega-datasets' Seattle weather split by year
// (2012-2013 as the reference CSV, 2015 as the current JSON Lines file), the same file on both
// sides, and bad input (a broken CSV, a missing file, an unknown column or method) that must end
// with a message naming the file and the fix.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DriftReport } from '../../server/shared/deployments';

const repository = path.resolve(__dirname, '../..');
const WEATHER = path.join(repository, 'node_modules/vega-datasets/data/seattle-weather.csv');
const FEATURES = 'precipitation,temp_max,temp_min,wind,weather';

const CLI = path.join(repository, 'dist/cli/cairn.js');

/** Runs `cairn monitor drift ARGS` with the built CLI (dist/cli/cairn.js, built by `npm test`). */
function drift(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, 'monitor', 'drift', ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('cairn monitor drift on real files', function () {
  this.timeout(120_000);
  let folder: string;

  before(() => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-drift-cli-'));
    const [header, ...lines] = fs.readFileSync(WEATHER, 'utf8').trim().split('\n');
    const columns = (header as string).split(',');
    const early = lines.filter((line) => line.startsWith('2012') || line.startsWith('2013'));
    const late = lines.filter((line) => line.startsWith('2015'));
    fs.writeFileSync(path.join(folder, 'reference.csv'), [header, ...early].join('\n') + '\n');
    const records = late.map((line) => {
      const cells = line.split(',');
      const record: Record<string, string | number> = {};
      columns.forEach((column, index) => {
        const cell = cells[index] as string;
        record[column] = column === 'date' || column === 'weather' ? cell : Number(cell);
      });
      return JSON.stringify(record);
    });
    fs.writeFileSync(path.join(folder, 'current.jsonl'), records.join('\n') + '\n');
    fs.writeFileSync(path.join(folder, 'broken.csv'), `${header}\n2016-01-01,0,"12.8,5,4.7,sun\n`);
  });

  after(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('reports per-feature tests chosen as Evidently does, and the dataset verdict (--json)', () => {
    const result = drift(
      ['--reference', 'reference.csv', '--current', 'current.jsonl', '--features', FEATURES, '--json'],
      folder,
    );
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as DriftReport;
    assert.equal(report.referenceRows, 731);
    assert.equal(report.currentRows, 365);
    assert.deepEqual(
      report.features.map((feature) => [feature.feature, feature.kind, feature.test]),
      [
        ['precipitation', 'numeric', 'ks'],
        ['temp_max', 'numeric', 'ks'],
        ['temp_min', 'numeric', 'ks'],
        ['wind', 'numeric', 'ks'],
        ['weather', 'categorical', 'chi2'],
      ],
    );
    for (const feature of report.features) {
      assert.ok(feature.pValue !== null && feature.pValue >= 0 && feature.pValue <= 1);
      assert.equal(feature.drifted, feature.test === 'ks' ? feature.score <= 0.05 : feature.score < 0.05);
      const total = feature.histogram.reference.reduce((sum, share) => sum + share, 0);
      assert.ok(Math.abs(total - 1) < 1e-9, `${feature.feature}: reference shares sum to 1`);
    }
    // 2015 labels most days 'sun' where 2012-2013 said 'rain' or 'drizzle': the weather column drifted.
    const weather = report.features.find((feature) => feature.feature === 'weather');
    assert.ok(weather?.drifted, 'weather drifted');
    assert.equal(report.driftedFeatures, report.features.filter((feature) => feature.drifted).length);
    assert.equal(report.datasetDrift, report.share >= 0.5);
  });

  it('finds no drift between a file and itself, and prints a table without --json', () => {
    const result = drift(
      ['--reference', 'reference.csv', '--current', 'reference.csv', '--features', FEATURES],
      folder,
    );
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^feature\s+kind\s+test\s+statistic\s+p-value\s+threshold\s+drift$/m);
    assert.match(result.stdout, /^temp_max\s+numeric\s+ks\s+0\.0000\s+1\.0000\s+0\.05\s+ok$/m);
    assert.match(result.stdout, /No dataset drift: 0 of 5 features drifted/);
  });

  it('applies --method, --threshold and --share', () => {
    const result = drift(
      [
        '--reference',
        'reference.csv',
        '--current',
        'current.jsonl',
        '--features',
        FEATURES,
        '--method',
        'psi',
        '--threshold',
        '0.2',
        '--share',
        '0.1',
        '--json',
      ],
      folder,
    );
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as DriftReport;
    assert.ok(report.features.every((feature) => feature.test === 'psi' && feature.threshold === 0.2));
    assert.equal(report.shareThreshold, 0.1);
    assert.equal(report.datasetDrift, report.driftedFeatures / 5 >= 0.1);
  });

  it('names the file, the line and the fix for bad input', () => {
    const broken = drift(['--reference', 'reference.csv', '--current', 'broken.csv'], folder);
    assert.equal(broken.status, 1);
    assert.match(broken.stderr, /^cairn: broken\.csv:\d+: not valid CSV/m);

    const missing = drift(['--reference', 'nowhere.csv', '--current', 'current.jsonl'], folder);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cairn: nowhere\.csv: cannot read the file \(ENOENT\)/);

    const column = drift(
      ['--reference', 'reference.csv', '--current', 'current.jsonl', '--features', 'humidity'],
      folder,
    );
    assert.equal(column.status, 1);
    assert.match(
      column.stderr,
      /cairn: reference\.csv: no column 'humidity'\. Its columns: date, precipitation.*Fix --features/,
    );

    const format = drift(['--reference', 'reference.txt', '--current', 'current.jsonl'], folder);
    assert.equal(format.status, 1);
    assert.match(format.stderr, /reference\.txt: unknown data format\. Give a \.csv/);

    const method = drift(['--reference', 'reference.csv', '--current', 'current.jsonl', '--method', 't-test'], folder);
    assert.equal(method.status, 2);
    assert.match(method.stderr, /Unknown --method 't-test'\. Use one of ks, chi2, z, wasserstein, jensenshannon, psi/);

    const usage = drift(['--reference', 'reference.csv'], folder);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /needs --reference FILE and --current FILE/);
  });
});
