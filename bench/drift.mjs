// Drift benchmark: a reference and a current sample of 1,000,000 rows each, 20 features (16
// numeric with assorted distributions, some shifted; 4 categorical, one of them binary), and every
// test on every feature it fits: ks, wasserstein, jensenshannon and psi on the numeric features,
// chi2, z, jensenshannon and psi on the categorical ones. Prints the time of each phase; the
// target is the whole under 2 seconds. Generation of the data is not timed.
//
// Numeric features are cleaned, sorted and walked (both samples) on worker threads (one per core,
// --threads N to change) while the main thread counts the categories.
//
// Usage: node --import tsx bench/drift.mjs [--rows 1000000] [--features 20] [--repeat 3] [--threads N]
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { defaultThreads } from '../server/engine/drift/parallel.ts';
import { DRIFT_METHODS, PreparedColumns, driftReport } from '../server/engine/drift/report.ts';

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

const ROWS = option('rows', 1_000_000);
const FEATURES = option('features', 20);
const REPEAT = option('repeat', 3);
const THREADS = option('threads', defaultThreads());
const CATEGORICAL = Math.max(1, Math.round(FEATURES / 5));

/** mulberry32, seeded: every run measures the same data. */
function uniform(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function numericColumn(seed, feature, shifted) {
  const next = uniform(seed);
  const values = new Float64Array(ROWS);
  const shift = shifted ? 0.15 : 0;
  for (let row = 0; row < ROWS; row++) {
    const normal = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    switch (feature % 4) {
      case 0: // normal
        values[row] = 10 + 2 * (normal + shift);
        break;
      case 1: // log-normal, skewed
        values[row] = Math.exp(0.5 * normal + shift);
        break;
      case 2: // uniform with a few missing values
        values[row] = next() < 0.01 ? Number.NaN : 100 * next() + 10 * shift;
        break;
      default: // counts: an integer feature with ties
        values[row] = Math.floor(20 * next() * next() + 4 * shift);
    }
  }
  return values;
}

function categoricalColumn(seed, feature, shifted) {
  const next = uniform(seed);
  const labels = feature === 0 ? ['yes', 'no'] : Array.from({ length: 5 + 15 * feature }, (_, index) => `c${index}`);
  const values = new Array(ROWS);
  for (let row = 0; row < ROWS; row++) {
    const skew = shifted ? next() * next() : next();
    values[row] = labels[Math.floor(skew * labels.length)];
  }
  return values;
}

function table(seedBase, shifted) {
  const columns = {};
  for (let feature = 0; feature < FEATURES - CATEGORICAL; feature++)
    columns[`n${feature}`] = numericColumn(seedBase + feature, feature, shifted && feature % 3 === 0);
  for (let feature = 0; feature < CATEGORICAL; feature++)
    columns[`c${feature}`] = categoricalColumn(seedBase + 100 + feature, feature, shifted && feature % 2 === 1);
  return columns;
}

const generated = performance.now();
const reference = table(1, false);
const current = table(1000, true);
console.log(
  `data: ${ROWS.toLocaleString('en')} reference rows and ${ROWS.toLocaleString('en')} current rows × ${FEATURES} features (${FEATURES - CATEGORICAL} numeric, ${CATEGORICAL} categorical), generated in ${((performance.now() - generated) / 1000).toFixed(1)} s`,
);

/** Every test on every feature it fits, from prepared columns: the phases' times, and the number of tests. */
function allReports(preparedReference, preparedCurrent, phases) {
  let tests = 0;
  for (const method of [undefined, ...DRIFT_METHODS]) {
    const phaseStart = performance.now();
    const report = driftReport(preparedReference, preparedCurrent, method ? { method } : {});
    phases[method ?? 'default'] = performance.now() - phaseStart;
    tests += report.features.filter((feature) => !method || feature.test === method).length;
  }
  return tests;
}

const timings = [];
// CPU time of the process (all threads) besides wall time: on a machine busy with other work the
// wall time measures the neighbours too.
const cpuTimings = [];
const warmTimings = [];
for (let round = 0; round < REPEAT; round++) {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const phases = {};
  // Both samples from the raw columns: cleaned, sorted and walked feature by feature on the workers.
  const { reference: preparedReference, current: preparedCurrent } = await PreparedColumns.prepareBoth(
    reference,
    current,
    { threads: THREADS },
  );
  phases['clean+sort+walk both'] = performance.now() - start;
  const tests = allReports(preparedReference, preparedCurrent, phases);
  const total = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  timings.push(total);
  cpuTimings.push(cpuMs);
  console.log(
    `round ${round + 1}: ${(total / 1000).toFixed(2)} s wall, ${(cpuMs / 1000).toFixed(2)} s CPU, for ${tests} feature tests on ${THREADS} thread(s): ` +
      Object.entries(phases)
        .map(([name, ms]) => `${name} ${ms.toFixed(0)} ms`)
        .join(', '),
  );
  if (round === 0) {
    const defaults = driftReport(preparedReference, preparedCurrent);
    console.log(
      `default report: ${defaults.driftedFeatures} of ${defaults.features.length} features drifted (${defaults.features
        .map((feature) => `${feature.feature} ${feature.test}${feature.drifted ? '*' : ''}`)
        .join(', ')})`,
    );
  }
  // A deployment's monitor prepares its reference once: each interval costs a new current sample
  // (cleaned, sorted, walked against the kept reference) and the reports. Timed apart.
  const warmStart = performance.now();
  const warm = await PreparedColumns.prepareBoth(preparedReference, current, { threads: THREADS });
  allReports(warm.reference, warm.current, {});
  warmTimings.push(performance.now() - warmStart);
}
const best = Math.min(...timings);
const median = [...timings].sort((a, b) => a - b)[Math.floor(timings.length / 2)];
const bestCpu = Math.min(...cpuTimings);
const load = os.loadavg()[0];
console.log(
  `with the reference prepared beforehand (a deployment's monitor each interval): best ${(Math.min(...warmTimings) / 1000).toFixed(2)} s wall`,
);
console.log(
  `every test on ${ROWS.toLocaleString('en')} × ${FEATURES}: best ${(best / 1000).toFixed(2)} s wall, median ${(median / 1000).toFixed(2)} s, best ${(bestCpu / 1000).toFixed(2)} s CPU; load average ${load.toFixed(1)} on ${os.cpus().length} cores (target < 2 s wall: ${best < 2000 ? 'met' : 'NOT met'})`,
);
