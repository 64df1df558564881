// Data-driven tests of the spec checks: each case is a small workspace and the problems expected
// in one file, written as `line:column severity code` plus a piece of the message.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Analyzer } from '../../server/spec/analyze';
import { LineIndex } from '../../server/spec/text';
import { Workspace } from '../../server/spec/workspace';
import { makeWorkspace, yaml } from '../helpers/workspace';

interface Case {
  name: string;
  files: Record<string, string>;
  /** The file to diagnose (default: pipeline.yaml). */
  file?: string;
  /** `line:column severity code | message piece` with 1-based lines and columns. */
  expect: string[];
}

function check(testCase: Case): void {
  const root = makeWorkspace(testCase.files);
  const file = path.join(root, testCase.file ?? 'pipeline.yaml');
  const analyzer = new Analyzer(new Workspace(root));
  const lines = new LineIndex(analyzer.workspace.text(file) ?? '');
  const actual = analyzer.diagnose(file).map((problem) => {
    const start = lines.position(problem.start);
    return {
      head: `${start.line + 1}:${start.character + 1} ${problem.severity} ${problem.code}`,
      message: problem.message,
    };
  });
  const rendered = actual.map((problem) => `${problem.head} | ${problem.message}`).join('\n');
  assert.equal(actual.length, testCase.expect.length, `expected ${testCase.expect.length} problems, got:\n${rendered}`);
  testCase.expect.forEach((expected, index) => {
    const [head = '', piece = ''] = expected.split(' | ');
    const problem = actual[index];
    assert.ok(problem, `missing problem ${expected}`);
    assert.equal(problem.head, head.trim(), `problem ${index}:\n${rendered}`);
    assert.ok(problem.message.includes(piece.trim()), `'${problem.message}' should contain '${piece}'`);
  });
}

const PARAMS = yaml`
  train:
    lr: 0.05
    epochs: 10
  prepare:
    split: 0.2
`;

const cases: Case[] = [
  {
    name: 'a valid pipeline has no problems',
    files: {
      'params.yaml': PARAMS,
      'data/raw.csv': 'a,b\n',
      'src/prepare.py': '',
      'pipeline.yaml': yaml`
        stages:
          prepare:
            cmd: python src/prepare.py --split \${prepare.split}
            deps: [data/raw.csv, src/prepare.py]
            params: [prepare.split]
            outs: [data/prepared]
          train:
            cmd: python train.py --lr \${train.lr}
            deps: [data/prepared]
            params:
            - train
            outs:
            - model.onnx
            metrics:
            - metrics.json:
                cache: false
      `,
    },
    expect: [],
  },
  {
    name: 'YAML syntax errors end with the offending line',
    files: { 'pipeline.yaml': 'stages:\n  train:\n    cmd: "python x\n  prepare:\n    cmd: y\n' },
    expect: ['3:10 error yaml-missing_char | Missing closing "quote'],
  },
  {
    name: 'an unknown stage key suggests the right one',
    files: {
      'pipeline.yaml': yaml`
      stages:
        train:
          cmd: python train.py
          outz: [model.onnx]
    `,
    },
    expect: ["4:5 error schema-unknown-property | Unknown property 'outz'. Did you mean 'outs'?"],
  },
  {
    name: 'a missing required key is reported on its parent key',
    files: {
      'pipeline.yaml': yaml`
      stages:
        train:
          deps: [a.txt]
    `,
    },
    expect: [
      "2:3 error schema-required | Missing required property 'cmd' in 'train'",
      "3:12 warning dep-missing | 'a.txt'",
    ],
  },
  {
    name: 'a wrong type is reported on the value in plain words',
    files: {
      'pipeline.yaml': yaml`
      stages:
        train:
          cmd: python train.py
          frozen: maybe
    `,
    },
    expect: ['4:13 error schema-type | Expected true or false here, but this is a string.'],
  },
  {
    name: 'yes and no are strings in YAML 1.2, and the message says so',
    files: {
      'pipeline.yaml': yaml`
        stages:
          train:
            cmd: python train.py
            always_changed: no
      `,
    },
    expect: ["4:21 error schema-type | takes 'no' as a string: write false."],
  },
  {
    name: 'an undefined ${} reference suggests the known key',
    files: {
      'params.yaml': PARAMS,
      'pipeline.yaml': yaml`
      stages:
        train:
          cmd: python train.py --lr \${train.lrr}
    `,
    },
    expect: [
      "3:33 error ref-undefined | '${train.lrr}' is not defined in params.yaml or vars. Did you mean 'train.lr'?",
    ],
  },
  {
    name: 'vars defined inline and in files resolve',
    files: {
      'config.yaml': 'model:\n  name: tree\n',
      'pipeline.yaml': yaml`
      vars:
        - config.yaml
        - seed: 7
      stages:
        train:
          cmd: python train.py \${model.name} \${seed} \${missing}
    `,
    },
    expect: ["6:50 error ref-undefined | '${missing}' is not defined"],
  },
  {
    name: "a stage's vars file with a key list loads only those keys",
    files: {
      'cfg.yaml': 'a: 1\nb: 2\n',
      'pipeline.yaml': yaml`
      stages:
        train:
          vars: [cfg.yaml:a]
          cmd: echo \${a} \${b}
    `,
    },
    expect: ["4:22 error ref-undefined | '${b}' is not defined in vars"],
  },
  {
    name: 'a params key missing from params.yaml is an error with a suggestion',
    files: {
      'params.yaml': PARAMS,
      'pipeline.yaml': yaml`
      stages:
        train:
          cmd: python train.py
          params: [train.epoch, train.batch]
    `,
    },
    expect: [
      "4:14 error param-missing | Did you mean 'train.epochs'?",
      "4:27 error param-missing | The param 'train.batch' is missing from params.yaml.",
    ],
  },
  {
    name: 'a dependency cycle shows the cycle',
    files: {
      'pipeline.yaml': yaml`
      stages:
        a:
          cmd: x
          deps: [c.txt]
          outs: [a.txt]
        b:
          cmd: x
          deps: [a.txt]
          outs: [b.txt]
        c:
          cmd: x
          deps: [b.txt]
          outs: [c.txt]
    `,
    },
    expect: [
      '2:3 error cycle | Dependency cycle: a → b → c → a',
      '6:3 error cycle | Dependency cycle: b → c → a → b',
      '10:3 error cycle | Dependency cycle: c → a → b → c',
    ],
  },
  {
    name: 'two stages producing one out, and an out that is its own dep',
    files: {
      'in.txt': '',
      'pipeline.yaml': yaml`
      stages:
        one:
          cmd: x
          deps: [in.txt]
          outs: [out.txt]
        two:
          cmd: x
          deps: [same.txt]
          outs: [out.txt, same.txt]
    `,
    },
    expect: [
      "5:12 error out-duplicate | 'out.txt' is also an output of stage 'two'",
      "9:12 error out-duplicate | also an output of stage 'one'",
      "9:21 error out-is-dep | 'same.txt' is both a dep and an output of stage 'two'",
    ],
  },
  {
    name: 'a dep that nobody produces and that is not on disk is a warning; on disk or produced is fine',
    files: {
      'here.csv': '',
      'pipeline.yaml': yaml`
      stages:
        make:
          cmd: x
          outs: [data/features]
        use:
          cmd: y
          deps: [here.csv, data/features/train.csv, nowhere.csv]
    `,
    },
    expect: ["7:47 warning dep-missing | 'nowhere.csv' is not produced by any stage and does not exist on disk"],
  },
  {
    name: 'paths that escape the workspace are errors',
    files: {
      'pipeline.yaml': yaml`
      stages:
        leak:
          cmd: cat secret
          deps: [../../etc/passwd]
          outs: [/tmp/out]
    `,
    },
    expect: ['4:12 error path-escapes | outside the workspace', '5:12 error path-escapes | outside the workspace'],
  },
  {
    name: 'foreach over a params list expands and checks item references',
    files: {
      'params.yaml': 'models: [tree, forest]\nlr: 1\n',
      'pipeline.yaml': yaml`
      stages:
        fit:
          foreach: \${models}
          do:
            cmd: python fit.py \${item} \${item.depth}
            outs:
            - models/\${item}.onnx
        bad:
          foreach: \${lr}
          do:
            cmd: echo \${item}
        outside:
          cmd: echo \${item}
    `,
    },
    expect: [
      "5:36 error ref-undefined | '${item.depth}' is not defined",
      "9:14 error foreach-invalid | foreach needs a list or a mapping to iterate over, but '${lr}' is the number 1.",
      '13:15 error ref-loop-outside | exists only in foreach and matrix stages',
    ],
  },
  {
    name: 'a comment on the line above suppresses a diagnostic',
    files: {
      'pipeline.yaml': yaml`
      stages:
        use:
          cmd: y
          deps:
          # cairn: ignore dep-missing
          - nowhere.csv
          # cairn: ignore param-missing
          - nothing.csv
    `,
    },
    expect: ["8:7 warning dep-missing | 'nothing.csv'"],
  },
  {
    name: 'legacy DVC keys say what to do instead',
    files: {
      'dvc.yaml': yaml`
      stages:
        train:
          cmd: python train.py
          live:
            logs: {}
    `,
    },
    file: 'dvc.yaml',
    expect: ["4:5 error schema-legacy | 'live' is the old DVCLive stage section"],
  },
  {
    name: 'an experiment referring to missing stages and params',
    files: {
      'params.yaml': PARAMS,
      'metrics.json': '{"auc": 0.8, "loss": 0.3}',
      'pipeline.yaml': yaml`
        stages:
          train:
            cmd: python train.py
            metrics: [metrics.json]
      `,
      'churn.experiment.yaml': yaml`
        pipeline: pipeline.yaml
        stages: [trian]
        search:
          strategy: tpe
          space:
            train.lr: {type: loguniform, low: 0.0001, high: 0.1}
            train.momentum: {type: uniform, low: 0, high: 1}
        objective:
          metric: acu
          direction: maximize
    `,
    },
    file: 'churn.experiment.yaml',
    expect: [
      "2:10 error stage-unknown | There is no stage 'trian'. Did you mean 'train'?",
      "7:5 warning param-missing | 'train.momentum', which is not in params.yaml",
      "9:11 warning metric-unknown | Did you mean 'auc'?",
    ],
  },
  {
    name: 'an experiment whose pipeline does not exist',
    files: {
      'x.experiment.yaml':
        'pipeline: nope.pipeline.yaml\nsearch:\n  strategy: random\n  space:\n    a: {type: int, low: 1, high: 3}\nobjective: {metric: auc, direction: maximize}\n',
    },
    file: 'x.experiment.yaml',
    expect: ["1:11 error pipeline-missing | The pipeline file 'nope.pipeline.yaml' does not exist"],
  },
  {
    name: 'a deployment naming unknown models, alerts and a missing runbook',
    files: {
      'pipeline.yaml': yaml`
        stages:
          train:
            cmd: python train.py
            outs: [model.onnx]
        models:
          churn:
            artifact: model.onnx
      `,
      'api.deploy.yaml': yaml`
        model: chrun@champion
        monitoring:
          alerts:
          - name: drift
            when: drift.share > 0.5
            runbook: docs/drift.md
          rollback:
            on: [drfit]
      `,
    },
    file: 'api.deploy.yaml',
    expect: [
      "1:8 warning model-unknown | Did you mean 'churn'?",
      '6:14 warning runbook-missing | docs/drift.md',
      "8:10 error alert-unknown | There is no alert 'drfit' under monitoring.alerts. Did you mean 'drift'?",
    ],
  },
  {
    name: 'a deployment naming the alerts of its objectives, and one whose objective is not set',
    files: {
      'api.deploy.yaml': yaml`
        model: churn@champion
        monitoring:
          performance: { metric: auc, min: 0.7 }
          latency: { p99_ms: 100 }
          rollback:
            on: [latency-p99-high, error-rate-high]
          retrain:
            experiment: retrain.experiment.yaml
            on: [performance-low]
      `,
      'retrain.experiment.yaml': 'pipeline: pipeline.yaml\n',
    },
    file: 'api.deploy.yaml',
    expect: [
      "1:8 warning model-unknown | No pipeline declares the model 'churn'",
      "6:28 error alert-unknown | There is no alert 'error-rate-high' under monitoring.alerts. Alerts: 'performance-low', 'latency-p99-high'.",
    ],
  },
  {
    name: 'a deployment whose drift reference and retrain data are missing or outside the workspace',
    files: {
      'data/new.csv': 'x\n1\n',
      'api.deploy.yaml': yaml`
        model: churn@champion
        monitoring:
          reference: { path: data/reference.csv }
          retrain:
            experiment: churn.experiment.yaml
            data: [data/new.csv, ../elsewhere.csv]
      `,
    },
    file: 'api.deploy.yaml',
    expect: [
      "1:8 warning model-unknown | No pipeline declares the model 'churn'",
      '3:22 warning path-missing | data/reference.csv',
      "5:17 error experiment-missing | The retrain experiment 'churn.experiment.yaml' does not exist.",
      "6:26 error path-escapes | The retrain data '../elsewhere.csv' is outside the workspace.",
    ],
  },
  {
    name: 'a deployment whose labels file or retrain data is an absolute path outside the workspace',
    files: {
      'api.deploy.yaml': yaml`
        model: churn@champion
        monitoring:
          labels: { source: /etc/passwd }
          retrain:
            experiment: churn.experiment.yaml
            data: [/var/data/new.csv]
      `,
    },
    file: 'api.deploy.yaml',
    expect: [
      "1:8 warning model-unknown | No pipeline declares the model 'churn'",
      "3:21 error path-escapes | The labels file '/etc/passwd' is outside the workspace.",
      "5:17 error experiment-missing | The retrain experiment 'churn.experiment.yaml' does not exist.",
      "6:12 error path-escapes | The retrain data '/var/data/new.csv' is outside the workspace.",
    ],
  },
  {
    name: 'a model artifact that no stage produces',
    files: {
      'pipeline.yaml': yaml`
      stages:
        train:
          cmd: python train.py
          outs: [model.onnx]
      models:
        churn:
          artifact: other.onnx
    `,
    },
    expect: ["7:15 error model-artifact-unknown | No stage outputs 'other.onnx'"],
  },
];

describe('spec diagnostics', () => {
  for (const testCase of cases) it(testCase.name, () => check(testCase));
});
