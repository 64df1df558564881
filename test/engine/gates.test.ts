// Gate tests on plain metrics objects: every criterion kind passing and failing with its reason,
// the split section, metrics missing, champion-relative criteria (absolute and relative, higher-
// and lower-is-better), and a biased model caught by its slice checks. Reading gates from the
// pipeline's `models` section is checked against the schema's own forms.
import * as assert from 'node:assert/strict';
import { gateFromValue } from '../../server/engine/gates/criteria';
import type { Direction, GateSpec } from '../../server/engine/gates/criteria';
import { evaluateGate, formatGateReport } from '../../server/engine/gates/evaluate';
import type { GateReport, Reference } from '../../server/engine/gates/evaluate';
import { modelsOfFile } from '../../server/engine/registry/spec';
import { yaml } from '../helpers/workspace';

function gate(value: unknown): GateSpec {
  const { gate: parsed, problems } = gateFromValue(value);
  assert.deepEqual(problems, []);
  return parsed;
}

/** Evaluates and returns "pass"/"fail" per criterion, so each case reads as a table. */
function check(
  gateValue: unknown,
  metrics: Record<string, unknown>,
  expected: { passed: boolean; results: [string, 'pass' | 'fail'][] },
  references: Reference[] = [],
): GateReport {
  const report = evaluateGate(gate(gateValue), metrics, references);
  assert.deepEqual(
    report.criteria.map((result) => [result.criterion, result.passed ? 'pass' : 'fail']),
    expected.results,
    formatGateReport(report, 'gate'),
  );
  assert.equal(report.passed, expected.passed);
  return report;
}

function reasonOf(report: GateReport, index: number): string {
  return report.criteria[index]?.reason ?? '';
}

describe('gates', () => {
  it('judges absolute thresholds written as expressions and as objects', () => {
    const report = check(
      { acceptance: ['auc >= 0.8', 'log_loss <= 0.6', { metric: 'f1', op: '>', value: 0.7 }] },
      { auc: 0.81, log_loss: 0.65, f1: 0.7 },
      {
        passed: false,
        results: [
          ['auc >= 0.8', 'pass'],
          ['log_loss <= 0.6', 'fail'],
          ['f1 > 0.7', 'fail'],
        ],
      },
    );
    assert.match(reasonOf(report, 1), /log_loss is 0\.65, 0\.05 above the threshold 0\.6; it must be <= 0\.6/);
    assert.match(reasonOf(report, 2), /f1 is 0\.7, equal to the threshold 0\.7/);
    assert.equal(report.criteria[1]?.value, 0.65);
    assert.equal(report.criteria[1]?.threshold, '<= 0.6');
    assert.match(report.summary, /2 of 3 criteria failed: log_loss <= 0\.6; f1 > 0\.7/);
  });

  it('judges the split section when the metrics have one, and nested names', () => {
    check(
      { split: 'holdout', acceptance: ['auc >= 0.8', 'eval/accuracy >= 0.9'] },
      { auc: 0.99, holdout: { auc: 0.75, eval: { accuracy: 0.95 } } },
      {
        passed: false,
        results: [
          ['auc >= 0.8', 'fail'],
          ['eval/accuracy >= 0.9', 'pass'],
        ],
      },
    );
  });

  it('fails a criterion whose metric is missing and lists the metrics there are', () => {
    const report = check(
      { acceptance: ['recall >= 0.5'] },
      { auc: 0.9 },
      { passed: false, results: [['recall >= 0.5', 'fail']] },
    );
    assert.match(reasonOf(report, 0), /no 'recall' \(they have: auc\)/);
  });

  it('passes an improvement criterion when no version holds the alias yet', () => {
    const report = check(
      { acceptance: [{ metric: 'auc', improvement: { min_absolute: 0.01 } }] },
      { auc: 0.5 },
      { passed: true, results: [['auc at least 0.01 higher than champion', 'pass']] },
    );
    assert.match(reasonOf(report, 0), /no version holds the alias 'champion' yet/);
  });

  it('requires a minimum absolute improvement over the champion', () => {
    const champion: Reference[] = [{ alias: 'champion', version: 2, metrics: { auc: 0.8 } }];
    const criterion = { acceptance: [{ metric: 'auc', improvement: { min_absolute: 0.01 } }] };
    const passing = check(
      criterion,
      { auc: 0.81 },
      { passed: true, results: [['auc at least 0.01 higher than champion', 'pass']] },
      champion,
    );
    assert.equal(passing.criteria[0]?.threshold, '>= 0.81 (champion (v2) 0.8 + 0.01)');
    const failing = check(
      criterion,
      { auc: 0.805 },
      { passed: false, results: [['auc at least 0.01 higher than champion', 'fail']] },
      champion,
    );
    assert.match(
      reasonOf(failing, 0),
      /auc is 0\.805 against 0\.8 for champion \(v2\): only 0\.005.* higher, but it must be at least 0\.01 higher/,
    );
    const worse = check(
      criterion,
      { auc: 0.7 },
      { passed: false, results: [['auc at least 0.01 higher than champion', 'fail']] },
      champion,
    );
    assert.match(reasonOf(worse, 0), /0\.1 worse/);
  });

  it('requires a minimum relative improvement, lower being better for a loss', () => {
    const champion: Reference[] = [{ alias: 'champion', version: 1, metrics: { holdout: { log_loss: 0.5 } } }];
    const criterion = {
      split: 'holdout',
      acceptance: [{ metric: 'log_loss', improvement: { min_relative: 0.1 } }],
    };
    // 10% lower than 0.5 is 0.45.
    check(
      criterion,
      { holdout: { log_loss: 0.44 } },
      { passed: true, results: [['log_loss at least 10% lower than champion', 'pass']] },
      champion,
    );
    check(
      criterion,
      { holdout: { log_loss: 0.46 } },
      { passed: false, results: [['log_loss at least 10% lower than champion', 'fail']] },
      champion,
    );
    // An explicit direction wins over the name.
    check(
      { acceptance: [{ metric: 'log_loss', improvement: { min_relative: 0.1 }, direction: 'maximize' }] },
      { log_loss: 0.56 },
      { passed: true, results: [['log_loss at least 10% higher than champion', 'pass']] },
      [{ alias: 'champion', version: 1, metrics: { log_loss: 0.5 } }],
    );
  });

  it("judges an improvement on the objective's metric the objective's way unless the criterion says", () => {
    const directionOf = (entry: Record<string, unknown>, objective?: { metric: string; direction: Direction }) => {
      const criterion = gateFromValue({ acceptance: [entry] }, objective).gate.acceptance[0];
      return criterion?.kind === 'improvement' ? criterion.direction : null;
    };
    const improvement = { min_absolute: 0.01 };
    // "score" says nothing by its name: maximize, unless it is the objective and the objective minimizes.
    assert.equal(directionOf({ metric: 'score', improvement }), 'maximize');
    assert.equal(directionOf({ metric: 'score', improvement }, { metric: 'score', direction: 'minimize' }), 'minimize');
    assert.equal(
      directionOf({ metric: 'holdout.score', improvement }, { metric: 'score', direction: 'minimize' }),
      'minimize',
    );
    assert.equal(directionOf({ metric: 'auc', improvement }, { metric: 'score', direction: 'minimize' }), 'maximize');
    assert.equal(
      directionOf({ metric: 'score', improvement, direction: 'maximize' }, { metric: 'score', direction: 'minimize' }),
      'maximize',
    );
  });

  it('compares with the alias named in relative_to', () => {
    check(
      { acceptance: [{ metric: 'auc', improvement: { min_absolute: 0 }, relative_to: 'challenger' }] },
      { auc: 0.8 },
      { passed: false, results: [['auc at least 0 higher than challenger', 'fail']] },
      [
        { alias: 'champion', version: 1, metrics: { auc: 0.5 } },
        { alias: 'challenger', version: 2, metrics: { auc: 0.9 } },
      ],
    );
  });

  it('catches a biased model with slice checks: a gap between slices and a slice below the minimum', () => {
    const slices = [{ column: 'region', metric: 'recall', max_gap: 0.05, min: 0.6, min_rows: 30 }];
    const fair = check(
      { acceptance: ['recall >= 0.6'], slices },
      {
        recall: 0.72,
        slices: {
          region: {
            north: { recall: 0.73, rows: 400 },
            south: { recall: 0.7, rows: 380 },
            islands: { recall: 0.2, rows: 12 },
          },
        },
      },
      {
        passed: true,
        results: [
          ['recall >= 0.6', 'pass'],
          ['recall gap across region <= 0.05', 'pass'],
          ['recall in every region >= 0.6', 'pass'],
        ],
      },
    );
    assert.match(reasonOf(fair, 1), /Not judged: islands \(12 rows < 30\)/);
    // The same overall recall, but the model serves the south far worse.
    const biased = check(
      { acceptance: ['recall >= 0.6'], slices },
      { recall: 0.72, slices: { region: { north: { recall: 0.86, rows: 400 }, south: { recall: 0.55, rows: 380 } } } },
      {
        passed: false,
        results: [
          ['recall >= 0.6', 'pass'],
          ['recall gap across region <= 0.05', 'fail'],
          ['recall in every region >= 0.6', 'fail'],
        ],
      },
    );
    assert.match(
      reasonOf(biased, 1),
      /from 0\.55 \(region=south\) to 0\.86 \(region=north\), a gap of 0\.31, more than the 0\.05 allowed/,
    );
    assert.match(reasonOf(biased, 2), /region=south has recall 0\.55, below the minimum 0\.6/);
    assert.deepEqual(
      biased.criteria[1]?.slices?.map((slice) => [slice.slice, slice.value]),
      [
        ['north', 0.86],
        ['south', 0.55],
      ],
    );
  });

  it('fails a slice check when the metrics have no slices for its column', () => {
    const report = check(
      { slices: [{ column: 'segment', metric: 'auc', min: 0.7 }] },
      { auc: 0.9 },
      { passed: false, results: [['auc in every segment >= 0.7', 'fail']] },
    );
    assert.match(reasonOf(report, 0), /write slices\.segment\.<value>\.auc/);
  });

  it('reports malformed criteria', () => {
    const { problems } = gateFromValue({
      acceptance: ['auc is high', { metric: 'auc' }],
      slices: [{ column: 'x', metric: 'y' }],
    });
    assert.deepEqual(problems, [
      `gate.acceptance[0]: 'auc is high' is not "metric operator number", for example "auc >= 0.8".`,
      "gate.acceptance[1]: criterion on 'auc' needs op (one of >= <= == > <) and a numeric value, or an improvement.",
      "gate.slices[0]: the slice check on 'x' needs max_gap or min.",
    ]);
  });

  it('reads the gate from a pipeline models section, with schema problems at their line', () => {
    const file = '/workspace/pipeline.yaml';
    const { models, problems } = modelsOfFile(
      file,
      yaml`
        stages:
          train: { cmd: python train.py, outs: [models/churn.onnx] }
        models:
          churn:
            artifact: models/churn.onnx
            description: Churn in 30 days
            tags: { team: growth }
            gate:
              split: holdout
              acceptance:
                - auc >= 0.8
                - { metric: auc, improvement: { min_absolute: 0.005 }, relative_to: champion }
              slices:
                - { column: region, metric: recall, max_gap: 0.05 }
          broken:
            artifact: models/broken.onnx
            gate:
              acceptance: [auc is good]
      `,
    );
    assert.deepEqual(
      models.map((model) => model.name),
      ['churn'],
    );
    assert.deepEqual(models[0]?.gate, {
      split: 'holdout',
      acceptance: [
        { kind: 'threshold', metric: 'auc', op: '>=', value: 0.8 },
        { kind: 'improvement', metric: 'auc', minAbsolute: 0.005, relativeTo: 'champion', direction: 'maximize' },
      ],
      slices: [{ column: 'region', metric: 'recall', maxGap: 0.05, minRows: 30 }],
    });
    assert.deepEqual(models[0]?.tags, { team: 'growth' });
    assert.equal(problems.length > 0, true);
    assert.equal(problems[0]?.line, 18);
    assert.match(problems[0]?.message ?? '', /^model 'broken': /);
  });
});
