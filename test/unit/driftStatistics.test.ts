// The drift report's rules without scipy: sorting, Evidently's default test per feature, the
// direction of each threshold, dataset drift at the share, missing values, hand-computed KS and
// Wasserstein figures, prepared (worker-sorted) columns giving the same report, and input errors.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { sortAllInParallel } from '../../server/engine/drift/parallel';
import {
  chooseMethod,
  DRIFT_METHODS,
  DriftError,
  driftReport,
  PreparedColumns,
} from '../../server/engine/drift/report';
import { sortFloat64 } from '../../server/engine/drift/sort';
import { compareSorted, sturgesEdges } from '../../server/engine/drift/statistics';

function uniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sample<T = number>(seed: number, count: number, transform: (u: number) => T): T[] {
  const next = uniform(seed);
  return Array.from({ length: count }, () => transform(next()));
}

describe('drift: sorting', () => {
  it('sorts like the engine does, for spread, skewed, tied, tiny and negative values', () => {
    const cases: number[][] = [
      sample(1, 100_000, (u) => 1000 * (u - 0.5)),
      sample(2, 100_000, (u) => Math.exp(20 * u)),
      sample(3, 100_000, (u) => Math.floor(7 * u)),
      sample(4, 50_000, (u) => (u - 0.5) * 1e-300),
      [3, -0, 0, -1e308, 1e308, 5e-324, -5e-324, 2, 2, 2],
      [],
      [42],
    ];
    for (const values of cases) {
      const expected = Float64Array.from(values).sort();
      const actual = sortFloat64(Float64Array.from(values));
      assert.deepEqual(Array.from(actual), Array.from(expected));
    }
  });

  it('sorts on worker threads too', async () => {
    const arrays = [1, 2, 3].map((seed) => Float64Array.from(sample(seed, 20_000, (u) => u * u - 0.3)));
    const expected = arrays.map((values) => Array.from(values.slice().sort()));
    const sorted = await sortAllInParallel(arrays, 2);
    assert.deepEqual(
      sorted.map((values) => Array.from(values)),
      expected,
    );
  });

  it('sorts and prepares features on worker threads from a minified bundle too (their source must stay self-contained)', function () {
    this.timeout(60_000);
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-drift-bundle-'));
    try {
      const entry = path.join(folder, 'entry.ts');
      fs.writeFileSync(
        entry,
        `import { sortAllInParallel } from ${JSON.stringify(path.resolve(__dirname, '../../server/engine/drift/parallel'))};
import { PreparedColumns, driftReport } from ${JSON.stringify(path.resolve(__dirname, '../../server/engine/drift/report'))};
const arrays = [1, 2, 3].map((seed) => Float64Array.from({ length: 30000 }, (_, index) => Math.sin(index * seed) * 1e3));
const expected = arrays.map((values) => Array.from(values.slice().sort()));
const reference = { a: arrays[0]!.slice(), b: arrays[1]!.slice() };
const current = { a: arrays[1]!.slice(), b: arrays[2]!.map((value) => Math.round(value / 300)) };
const plain = JSON.stringify(driftReport(reference, current));
sortAllInParallel(arrays, 2).then(async (sorted) => {
  const both = await PreparedColumns.prepareBoth(reference, current, { threads: 2 });
  const same = JSON.stringify(driftReport(both.reference, both.current)) === plain;
  process.stdout.write(String(same && sorted.every((values, i) => Array.from(values).every((value, k) => value === expected[i]![k]))));
});`,
      );
      const bundle = path.join(folder, 'bundle.js');
      esbuild.buildSync({
        entryPoints: [entry],
        bundle: true,
        platform: 'node',
        minify: true,
        keepNames: true,
        outfile: bundle,
        logLevel: 'silent',
      });
      const run = spawnSync(process.execPath, [bundle], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(run.stderr, '');
      assert.equal(run.stdout, 'true');
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('drift: statistics by hand', () => {
  it('KS distance and Wasserstein distance of two small samples', () => {
    // F_ref steps at 1, 2, 3 (1/3 each); F_cur at 2, 4. Gaps: after 1: 1/3, after 2: 2/3 − 1/2,
    // after 3: 1 − 1/2, after 4: 0. KS = 1/2; W = 1/3·1 + 1/6·1 + 1/2·1 = 1.
    const comparison = compareSorted(new Float64Array([1, 2, 3]), new Float64Array([2, 4]));
    assert.equal(comparison.ksDistance, 0.5);
    assert.ok(Math.abs(comparison.wasserstein - 1) < 1e-15);
    assert.equal(comparison.distinctValues, 4);
    assert.equal(comparison.referenceDistinct, 3);
    assert.equal(comparison.currentDistinct, 2);
  });

  it("Sturges edges: ⌈log2 n⌉ + 1 equal bins over both samples' range", () => {
    const edges = sturgesEdges(new Float64Array([0, 1, 2, 3]), new Float64Array([4, 5, 6, 8]));
    assert.equal(edges.length, 5); // log2(8) + 1 = 4 bins
    assert.deepEqual(edges, [0, 2, 4, 6, 8]);
  });
});

describe("drift: Evidently's choices", () => {
  it('picks the default test from the reference size, the kind and the distinct values', () => {
    assert.equal(chooseMethod(undefined, true, 1000, 6), 'ks');
    assert.equal(chooseMethod(undefined, true, 1000, 5), 'chi2');
    assert.equal(chooseMethod(undefined, true, 1000, 2), 'z');
    assert.equal(chooseMethod(undefined, false, 500, 3), 'chi2');
    assert.equal(chooseMethod(undefined, false, 500, 2), 'z');
    assert.equal(chooseMethod(undefined, true, 1001, 6), 'wasserstein');
    assert.equal(chooseMethod(undefined, true, 1001, 5), 'jensenshannon');
    assert.equal(chooseMethod(undefined, false, 1001, 40), 'jensenshannon');
    // A requested test applies where it fits; elsewhere the default stays.
    assert.equal(chooseMethod('ks', false, 500, 3), 'chi2');
    assert.equal(chooseMethod('chi2', true, 500, 50), 'ks');
    assert.equal(chooseMethod('psi', false, 500, 3), 'psi');
  });

  it('compares each score with its threshold in the direction Evidently does, and the share with ≥', () => {
    const reference = { a: sample(5, 400, (u) => u), b: sample(6, 400, (u) => u), c: sample(7, 400, (u) => u) };
    const current = { a: sample(8, 300, (u) => u + 0.3), b: sample(9, 300, (u) => u), c: sample(10, 300, (u) => u) };
    const report = driftReport(reference, current);
    const a = report.features.find((feature) => feature.feature === 'a');
    assert.ok(a && a.test === 'ks' && a.drifted && a.score === a.pValue && a.score <= 0.05);
    assert.equal(report.driftedFeatures, report.features.filter((feature) => feature.drifted).length);
    assert.equal(report.share, report.driftedFeatures / 3);
    // A threshold equal to the p-value counts as drift for KS (p ≤ threshold) ...
    const exact = driftReport(reference, current, { features: ['b'], threshold: report.features[1]?.pValue as number });
    assert.equal(exact.features[0]?.drifted, true);
    // ... and the dataset drifts when the share of drifted features reaches the share exactly.
    const share = driftReport(reference, current, { share: report.share });
    assert.equal(share.datasetDrift, true);
    const above = driftReport(reference, current, { share: report.share + 1e-9 });
    assert.equal(above.datasetDrift, false);
  });

  it('drops missing values, reads mixed columns as categories, and --categorical forces them', () => {
    const report = driftReport(
      { x: [1, 2, null, 3, Number.NaN, 4, '', 5, 6], y: ['a', 'b', 'a', null, 'b', 'a', 'a', 'b', 'a'] },
      { x: [1, 2, 3, 4, 5, 6, Number.POSITIVE_INFINITY], y: ['a', 'b', 'b', 'b', 'b', 'b', 'b'] },
    );
    const [x, y] = report.features;
    assert.equal(x?.kind, 'numeric');
    assert.equal(x?.test, 'ks');
    assert.equal(x?.statistic, 0); // the same six values on both sides once the missing ones are gone
    assert.equal(y?.kind, 'categorical');
    assert.equal(y?.test, 'z');
    const mixed = driftReport({ x: [1, 'two', 3] }, { x: [1, 2, 3] });
    assert.equal(mixed.features[0]?.kind, 'categorical');
    const forced = driftReport({ x: [1, 2, 3, 1] }, { x: [1, 2, 2, 2] }, { categorical: ['x'] });
    assert.equal(forced.features[0]?.kind, 'categorical');
    assert.deepEqual(forced.features[0]?.histogram.bins, ['1', '2', '3']);
    // Numbers with at most 5 distinct values are categories to Evidently: reported and drawn so.
    const binary = driftReport(
      { rained: sample(17, 2000, (u) => (u < 0.4 ? 1 : 0)) },
      { rained: sample(18, 500, (u) => (u < 0.5 ? 1 : 0)) },
    );
    assert.equal(binary.features[0]?.kind, 'categorical');
    assert.equal(binary.features[0]?.test, 'jensenshannon');
    assert.deepEqual(binary.features[0]?.histogram.bins, ['0', '1']);
    assert.ok(Math.abs((binary.features[0]?.histogram.reference[1] as number) - 0.4) < 0.03);
  });

  it('gives the same report from columns prepared on worker threads, sorting the reference once', async () => {
    const reference = {
      n: Float64Array.from(sample(11, 5000, (u) => Math.log(u + 0.01))),
      m: sample(12, 5000, (u) => Math.round(10 * u)),
      c: sample(13, 5000, (u) => (u < 0.3 ? 'x' : 'y')),
    };
    const current = {
      n: Float64Array.from(sample(14, 4000, (u) => Math.log(u + 0.02))),
      m: sample(15, 4000, (u) => Math.round(10 * u)),
      c: sample(16, 4000, (u) => (u < 0.35 ? 'x' : 'y')),
    };
    // Missing values, which the workers drop in place.
    reference.n[7] = Number.NaN;
    current.n[3] = Number.POSITIVE_INFINITY;
    const plain = driftReport(reference, current);
    const prepared = await PreparedColumns.prepare(reference, { threads: 2 });
    assert.deepEqual(driftReport(prepared, await PreparedColumns.prepare(current, { threads: 2 })), plain);
    assert.deepEqual(driftReport(prepared, current), plain);
    // Both sides at once, feature by feature on the workers or on this thread, from raw columns or
    // with the reference prepared already: the same report, for every test.
    const untouched = Array.from(reference.n);
    for (const threads of [1, 2]) {
      const both = await PreparedColumns.prepareBoth(reference, current, { threads });
      assert.deepEqual(driftReport(both.reference, both.current), plain);
      assert.deepEqual(Array.from(reference.n), untouched); // the caller's column is only read
      const again = await PreparedColumns.prepareBoth(prepared, current, { threads });
      assert.equal(again.reference, prepared);
      for (const method of DRIFT_METHODS)
        assert.deepEqual(
          driftReport(again.reference, again.current, { method }),
          driftReport(reference, current, { method }),
        );
    }
    assert.deepEqual(
      plain.features.map((feature) => [feature.feature, feature.test]),
      [
        ['n', 'wasserstein'],
        ['m', 'wasserstein'],
        ['c', 'jensenshannon'],
      ],
    );
    for (const feature of plain.features) {
      const { bins, reference: shares, current: currentShares } = feature.histogram;
      assert.equal(shares.length, currentShares.length);
      assert.equal(feature.kind === 'numeric' ? bins.length - 1 : bins.length, shares.length);
    }
  });

  it('says which side lacks a feature or its values', () => {
    assert.throws(() => driftReport({ a: [1] }, { b: [1] }), /no column in common/);
    assert.throws(
      () => driftReport({ a: [1] }, { a: [1] }, { features: ['z'] }),
      /the reference data has no column 'z'/,
    );
    assert.throws(
      () => driftReport({ a: [1], b: [2] }, { a: [1] }, { features: ['b'] }),
      /the current data has no column 'b'/,
    );
    assert.throws(
      () => driftReport({ a: [null, null] }, { a: [1] }),
      (error: unknown) => error instanceof DriftError && /no values in the reference data/.test(error.message),
    );
  });
});
