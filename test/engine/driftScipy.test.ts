// Every drift statistic and p-value against scipy's on the same generated data: the samples are
// written as CSV files in a temporary folder, /usr/bin/python3 reads them with numpy and computes
// each figure with scipy (ks_2samp with its default method, chisquare, norm, wasserstein_distance,
// distance.jensenshannon) and Evidently's formulas around them (normed Wasserstein, the Z-test,
// Sturges binning for Jensen-Shannon and PSI). Without python3, numpy and scipy the test fails.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { driftReport } from '../../server/engine/drift/report';
import type { DriftMethod } from '../../server/engine/drift/report';

const PYTHON = '/usr/bin/python3';

/** A seeded generator (mulberry32) with normal draws, so every run compares the same data. */
function random(seed: number): { uniform(): number; normal(mean: number, deviation: number): number } {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    uniform,
    normal: (mean, deviation) => {
      const u = 1 - uniform();
      return mean + deviation * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
    },
  };
}

type Value = number | string;

interface Case {
  name: string;
  kind: 'numeric' | 'categorical';
  reference: Value[];
  current: Value[];
  methods: DriftMethod[];
  /** Evidently's default choice for this pair. */
  defaultTest: DriftMethod;
}

function numbers(seed: number, count: number, mean: number, deviation: number, round?: number): number[] {
  const generator = random(seed);
  return Array.from({ length: count }, () => {
    const value = generator.normal(mean, deviation);
    return round === undefined ? value : Math.round(value * round) / round;
  });
}

function categories(seed: number, count: number, weights: Record<string, number>): string[] {
  const generator = random(seed);
  const entries = Object.entries(weights);
  const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
  return Array.from({ length: count }, () => {
    let draw = generator.uniform() * total;
    for (const [name, weight] of entries) {
      draw -= weight;
      if (draw < 0) return name;
    }
    return (entries[entries.length - 1] as [string, number])[0];
  });
}

const NUMERIC: DriftMethod[] = ['ks', 'wasserstein', 'jensenshannon', 'psi'];
const FEW_VALUES: DriftMethod[] = [...NUMERIC, 'chi2', 'z'];
const CATEGORICAL: DriftMethod[] = ['chi2', 'z', 'jensenshannon', 'psi'];

const CASES: Case[] = [
  {
    name: 'small numeric, unequal sizes (exact KS)',
    kind: 'numeric',
    reference: numbers(1, 200, 0, 1),
    current: numbers(2, 150, 0.3, 1.2),
    methods: NUMERIC,
    defaultTest: 'ks',
  },
  {
    name: 'equal sizes (exact KS, square formula)',
    kind: 'numeric',
    reference: numbers(3, 300, 5, 2),
    current: numbers(4, 300, 5.4, 2),
    methods: NUMERIC,
    defaultTest: 'ks',
  },
  {
    name: 'no drift, small',
    kind: 'numeric',
    reference: numbers(5, 800, 10, 3),
    current: numbers(6, 600, 10, 3),
    methods: NUMERIC,
    defaultTest: 'ks',
  },
  {
    name: 'ties (integers), exact KS near 10,000',
    kind: 'numeric',
    reference: numbers(7, 9000, 15, 5, 1),
    current: numbers(8, 10_000, 15.2, 5, 1),
    methods: NUMERIC,
    defaultTest: 'wasserstein',
  },
  {
    name: 'large numeric (asymptotic KS, Pelz-Good or Smirnov)',
    kind: 'numeric',
    reference: numbers(9, 20_000, 0, 1),
    current: numbers(10, 15_000, 0.02, 1),
    methods: NUMERIC,
    defaultTest: 'wasserstein',
  },
  {
    name: 'large numeric, strong shift (tiny p-value)',
    kind: 'numeric',
    reference: numbers(11, 30_000, 0, 1),
    current: numbers(12, 12_000, 0.1, 1.1),
    methods: NUMERIC,
    defaultTest: 'wasserstein',
  },
  {
    name: 'asymptotic KS with a small current sample (n ≤ 140)',
    kind: 'numeric',
    reference: numbers(13, 12_000, 0, 1),
    current: numbers(14, 60, 0.2, 1),
    methods: NUMERIC,
    defaultTest: 'wasserstein',
  },
  {
    name: 'asymptotic KS, effective n in the hundreds',
    kind: 'numeric',
    reference: numbers(15, 11_000, 0, 1),
    current: numbers(16, 400, 0.05, 1),
    methods: NUMERIC,
    defaultTest: 'wasserstein',
  },
  {
    name: 'numeric with few values (one bin per value)',
    kind: 'numeric',
    reference: numbers(17, 5000, 3, 1.5, 1),
    current: numbers(18, 4000, 3.3, 1.5, 1),
    methods: NUMERIC,
    defaultTest: 'wasserstein',
  },
  {
    name: 'numeric with at most five values, small',
    kind: 'numeric',
    reference: numbers(19, 400, 2, 0.7, 1).map((value) => Math.min(4, Math.max(0, value))),
    current: numbers(20, 500, 2.2, 0.7, 1).map((value) => Math.min(4, Math.max(0, value))),
    methods: FEW_VALUES,
    defaultTest: 'chi2',
  },
  {
    name: 'categorical, small',
    kind: 'categorical',
    reference: categories(21, 600, { red: 5, green: 3, blue: 2, violet: 1 }),
    current: categories(22, 400, { red: 4, green: 3, blue: 3, violet: 1 }),
    methods: CATEGORICAL,
    defaultTest: 'chi2',
  },
  {
    name: 'categorical, large',
    kind: 'categorical',
    reference: categories(23, 50_000, { a: 10, b: 5, c: 2, d: 1, e: 0.2 }),
    current: categories(24, 40_000, { a: 9, b: 6, c: 2, d: 1, e: 0.1 }),
    methods: CATEGORICAL,
    defaultTest: 'jensenshannon',
  },
  {
    name: 'binary (Z-test)',
    kind: 'categorical',
    reference: categories(25, 900, { yes: 3, no: 7 }),
    current: categories(26, 700, { yes: 4, no: 6 }),
    methods: CATEGORICAL,
    defaultTest: 'z',
  },
  {
    name: 'category new in the current sample',
    kind: 'categorical',
    reference: categories(27, 500, { north: 2, south: 2, east: 1 }),
    current: categories(28, 500, { north: 2, south: 2, east: 1, west: 0.5 }),
    methods: CATEGORICAL,
    defaultTest: 'chi2',
  },
];

const PYTHON_SCRIPT = String.raw`
import json, math, sys
import numpy as np
from scipy import stats
from scipy.spatial import distance

def read(path, kind):
    with open(path) as f:
        lines = f.read().split('\n')[1:]
    values = [line for line in lines if line != '']
    return np.array([float(v) for v in values]) if kind == 'numeric' else np.array(values, dtype=object)

def shares(ref, cur, kind):
    # Evidently's get_binned_data
    if kind == 'numeric' and len(np.unique(ref)) > 20:
        bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins='sturges')
        return np.histogram(ref, bins)[0] / len(ref), np.histogram(cur, bins)[0] / len(cur)
    keys = list(set(ref.tolist()) | set(cur.tolist()))
    rc = {k: 0 for k in keys}; cc = {k: 0 for k in keys}
    for v in ref.tolist(): rc[v] += 1
    for v in cur.tolist(): cc[v] += 1
    return np.array([rc[k] / len(ref) for k in keys]), np.array([cc[k] / len(cur) for k in keys])

def fill(p):
    p = p.copy()
    smallest = min(p[p != 0])
    np.place(p, p == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return p

def counts(ref, cur):
    keys = list(set(ref.tolist()) | set(cur.tolist()))
    rc = {k: 0 for k in keys}; cc = {k: 0 for k in keys}
    for v in ref.tolist(): rc[v] += 1
    for v in cur.tolist(): cc[v] += 1
    return keys, rc, cc

results = {}
for case in json.load(open(sys.argv[1])):
    ref = read(case['reference'], case['kind'])
    cur = read(case['current'], case['kind'])
    out = {}
    if case['kind'] == 'numeric':
        ks = stats.ks_2samp(ref, cur)
        out['ks'] = [float(ks.statistic), float(ks.pvalue)]
        out['wasserstein'] = [float(stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)), None]
    r, c = shares(ref, cur, case['kind'])
    out['jensenshannon'] = [float(distance.jensenshannon(r, c, 2)), None]
    r, c = fill(r), fill(c)
    out['psi'] = [float(sum((r - c) * np.log(r / c))), None]
    keys, rc, cc = counts(ref, cur)
    with np.errstate(divide='ignore'):
        k = len(cur) / len(ref)
        chi = stats.chisquare([cc[key] for key in keys], [rc[key] * k for key in keys])
    out['chi2'] = [float(chi.statistic), float(chi.pvalue)]
    first = sorted(keys)[0]
    p1 = float(sum(1 for v in ref.tolist() if v != first)) / len(ref)
    p2 = float(sum(1 for v in cur.tolist() if v != first)) / len(cur)
    pooled = (p1 * len(ref) + p2 * len(cur)) / (len(ref) + len(cur))
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / len(ref) + 1.0 / len(cur)))
    out['z'] = [float(z), float(2 * (1 - stats.norm.cdf(abs(z))))]
    results[case['name']] = out
print(json.dumps(results, allow_nan=True))
`;

/** Relative agreement, with an absolute floor for values that are zero. */
function assertClose(actual: number | null, expected: number | null, tolerance: number, what: string): void {
  if (expected === null || actual === null) {
    assert.equal(actual, expected, what);
    return;
  }
  if (!Number.isFinite(expected)) {
    assert.equal(actual, expected, what);
    return;
  }
  const difference = Math.abs(actual - expected);
  assert.ok(
    difference <= tolerance * Math.abs(expected) || difference <= 1e-300,
    `${what}: cairn ${actual}, scipy ${expected} (relative difference ${difference / Math.abs(expected)})`,
  );
}

describe('drift statistics against scipy', function () {
  this.timeout(120_000);
  let folder: string;
  let scipy: Record<string, Record<string, [number, number | null]>>;

  before(function () {
    const check = spawnSync(PYTHON, ['-c', 'import numpy, scipy; print(scipy.__version__)'], { encoding: 'utf8' });
    if (check.status !== 0)
      throw new Error(
        `${PYTHON} with numpy and scipy is needed to compare the drift statistics with scipy's, and it is missing (${(check.stderr || String(check.error)).trim()}). Install it: apt-get install -y python3-numpy python3-scipy`,
      );
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-drift-scipy-'));
    const manifest = CASES.map((item, index) => {
      const reference = path.join(folder, `case${index}-reference.csv`);
      const current = path.join(folder, `case${index}-current.csv`);
      fs.writeFileSync(reference, `x\n${item.reference.join('\n')}\n`);
      fs.writeFileSync(current, `x\n${item.current.join('\n')}\n`);
      return { name: item.name, kind: item.kind, reference, current };
    });
    fs.writeFileSync(path.join(folder, 'cases.json'), JSON.stringify(manifest));
    fs.writeFileSync(path.join(folder, 'compare.py'), PYTHON_SCRIPT);
    const run = spawnSync(PYTHON, [path.join(folder, 'compare.py'), path.join(folder, 'cases.json')], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(run.status, 0, `the scipy script failed: ${run.stderr}`);
    scipy = JSON.parse(run.stdout.replace(/\bInfinity\b/g, '1e999')) as typeof scipy;
  });

  after(() => {
    if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  for (const item of CASES)
    it(`${item.name}: every statistic and p-value agrees`, () => {
      const expected = scipy[item.name];
      assert.ok(expected, `scipy answered for ${item.name}`);
      const columns = (values: Value[]) => ({ x: values });
      const categorical = item.kind === 'numeric' ? [] : ['x'];
      for (const method of item.methods) {
        const report = driftReport(columns(item.reference), columns(item.current), { method, categorical });
        const feature = report.features[0];
        assert.ok(feature);
        assert.equal(feature.test, method);
        const [statistic, pValue] = expected[method] as [number, number | null];
        assertClose(feature.statistic, statistic, 1e-9, `${method} statistic`);
        assertClose(feature.pValue, pValue, 1e-9, `${method} p-value`);
      }
      const defaults = driftReport(columns(item.reference), columns(item.current), { categorical });
      assert.equal(defaults.features[0]?.test, item.defaultTest, 'Evidently default test');
    });
});
