// The pipeline runner, end to end through the built CLI on real temporary workspaces with real
// child processes: skip and rerun rules, cache and run-cache restores, parallel stages, failures,
// cancellation, recovery after kill -9, concurrent runs, dvc.lock written by DVC, shell safety.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { yaml } from '../helpers/workspace';

const CLI = path.resolve(__dirname, '../../dist/cli/cairn.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cairn(root: string, ...args: string[]): Result {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: root, encoding: 'utf8', timeout: 60000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function events(result: Result): Record<string, unknown>[] {
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function ended(result: Result): Record<string, string> {
  const statuses: Record<string, string> = {};
  for (const event of events(result))
    if (event['event'] === 'stage-end') statuses[String(event['stage'])] = String(event['status']);
  return statuses;
}

function workspace(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-run-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), text);
  }
  return root;
}

function read(root: string, name: string): string {
  return fs.readFileSync(path.join(root, name), 'utf8');
}

/** How many times a stage ran: each run appends a line to runs/<stage>. */
function timesRun(root: string, stage: string): number {
  const file = path.join(root, 'runs', stage);
  return fs.existsSync(file) ? read(root, `runs/${stage}`).split('\n').filter(Boolean).length : 0;
}

const CHAIN = {
  'params.yaml': 'prepare:\n  factor: 2\ntrain:\n  lr: 0.5\n',
  'data/raw.txt': '1\n2\n3\n',
  'pipeline.yaml': `stages:
  prepare:
    cmd: mkdir -p runs && echo x >> runs/prepare && awk '{print $1 * \${prepare.factor}}' data/raw.txt > data/prepared.txt
    deps: [data/raw.txt]
    params: [prepare.factor]
    outs: [data/prepared.txt]
  train:
    cmd: mkdir -p runs models && echo x >> runs/train && echo "lr=\${train.lr}" > models/model.txt && cat data/prepared.txt >> models/model.txt
    deps: [data/prepared.txt]
    params: [train.lr]
    outs: [models/model.txt]
  report:
    cmd: mkdir -p runs && echo x >> runs/report && wc -l < models/model.txt > metrics.txt
    deps: [models/model.txt]
    metrics:
      - metrics.txt:
          cache: false
`,
};

describe('cairn run', function () {
  this.timeout(60000);

  it('runs stages in order, writes the lock file, then skips everything on a second run', () => {
    const root = workspace(CHAIN);
    const first = cairn(root, 'run', '--json');
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(ended(first), { prepare: 'succeeded', train: 'succeeded', report: 'succeeded' });
    assert.equal(read(root, 'models/model.txt'), 'lr=0.5\n2\n4\n6\n');
    const lock = read(root, 'pipeline.lock');
    assert.match(lock, /^schema: '2\.0'$/m);
    assert.match(lock, /prepare:[\s\S]*md5: [0-9a-f]{32}/);
    const second = cairn(root, 'run', '--json');
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(ended(second), { prepare: 'skipped', train: 'skipped', report: 'skipped' });
    assert.equal(timesRun(root, 'prepare'), 1);
    const human = cairn(root, 'run');
    assert.match(human.stdout, /Everything is up to date/);
  });

  it('reruns only what a param change affects, and status says why first', () => {
    const root = workspace(CHAIN);
    assert.equal(cairn(root, 'run').code, 0);
    fs.writeFileSync(path.join(root, 'params.yaml'), 'prepare:\n  factor: 2\ntrain:\n  lr: 0.1\n');
    const status = JSON.parse(cairn(root, 'status', '--json').stdout) as {
      pipelines: { stages: { name: string; state: string; reasons: string[] }[] }[];
    };
    const stages = status.pipelines[0]?.stages ?? [];
    assert.deepEqual(
      stages.map((stage) => [stage.name, stage.state]),
      [
        ['prepare', 'up-to-date'],
        ['train', 'changed'],
        ['report', 'changed'],
      ],
    );
    assert.ok(stages[1]?.reasons.includes('param train.lr changed (0.5 → 0.1)'), stages[1]?.reasons.join());
    assert.match(stages[2]?.reasons.join() ?? '', /upstream stage train/);
    const dry = cairn(root, 'run', '--dry-run', '--json');
    assert.equal(events(dry).filter((event) => event['event'] === 'stage-start').length, 0, 'a dry run runs nothing');
    const rerun = cairn(root, 'run', '--json');
    assert.deepEqual(ended(rerun), { prepare: 'skipped', train: 'succeeded', report: 'succeeded' });
    assert.equal(timesRun(root, 'prepare'), 1);
    assert.equal(timesRun(root, 'train'), 2);
  });

  it('skips a downstream stage when an upstream rerun produced the same outs', () => {
    const root = workspace(CHAIN);
    assert.equal(cairn(root, 'run').code, 0);
    fs.appendFileSync(path.join(root, 'params.yaml'), 'unused: 1\n');
    const forced = cairn(root, 'run', 'prepare', '--force', '--json');
    assert.deepEqual(ended(forced), { prepare: 'succeeded' });
    const rest = cairn(root, 'run', '--json');
    assert.deepEqual(ended(rest), { prepare: 'skipped', train: 'skipped', report: 'skipped' });
  });

  it('restores deleted or modified outs from the cache without running the stage', () => {
    const root = workspace(CHAIN);
    assert.equal(cairn(root, 'run').code, 0);
    fs.rmSync(path.join(root, 'models/model.txt'));
    fs.writeFileSync(path.join(root, 'data/prepared.txt'), 'tampered\n');
    const status = cairn(root, 'status');
    assert.match(status.stdout, /out data\/prepared.txt was modified; restoring it from the cache/);
    const result = cairn(root, 'run', '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(ended(result), { prepare: 'restored', train: 'restored', report: 'skipped' });
    assert.equal(read(root, 'models/model.txt'), 'lr=0.5\n2\n4\n6\n');
    assert.equal(read(root, 'data/prepared.txt'), '2\n4\n6\n');
    assert.equal(timesRun(root, 'train'), 1);
  });

  it('restores the outs of inputs that ran before from the run cache', () => {
    const root = workspace(CHAIN);
    assert.equal(cairn(root, 'run').code, 0);
    fs.writeFileSync(path.join(root, 'params.yaml'), 'prepare:\n  factor: 2\ntrain:\n  lr: 0.9\n');
    assert.equal(cairn(root, 'run').code, 0);
    assert.equal(timesRun(root, 'train'), 2);
    fs.writeFileSync(path.join(root, 'params.yaml'), 'prepare:\n  factor: 2\ntrain:\n  lr: 0.5\n');
    const back = cairn(root, 'run', '--json');
    assert.equal(back.code, 0, back.stderr);
    assert.equal(ended(back)['train'], 'restored');
    assert.equal(timesRun(root, 'train'), 2, 'train did not run again');
    assert.equal(read(root, 'models/model.txt'), 'lr=0.5\n2\n4\n6\n');
  });

  it('runs independent stages in parallel up to --jobs', () => {
    const stage = (name: string): string =>
      `  ${name}:\n    cmd: node -e "require('fs').writeFileSync('${name}.start', String(Date.now())); setTimeout(() => require('fs').writeFileSync('${name}.end', String(Date.now())), 700)"\n    outs: [${name}.end]\n`;
    const files = { 'pipeline.yaml': `stages:\n${stage('a')}${stage('b')}` };
    const overlap = (root: string): boolean => {
      const [aStart, aEnd, bStart, bEnd] = ['a.start', 'a.end', 'b.start', 'b.end'].map((name) =>
        Number(read(root, name)),
      );
      return (aStart ?? 0) < (bEnd ?? 0) && (bStart ?? 0) < (aEnd ?? 0);
    };
    const parallel = workspace(files);
    assert.equal(cairn(parallel, 'run', '--jobs', '2').code, 0);
    assert.ok(overlap(parallel), 'with --jobs 2 the two stages overlap');
    const serial = workspace(files);
    assert.equal(cairn(serial, 'run', '--jobs', '1').code, 0);
    assert.ok(!overlap(serial), 'with --jobs 1 they do not');
  });

  it('reports a failed stage with its exit code and last log lines, blocks its dependents, and --keep-going runs the rest', () => {
    const files = {
      'pipeline.yaml': `stages:
  broken:
    cmd: echo 'reading the input' && echo 'ValueError - bad row 7' >&2 && exit 3
    outs: [broken.txt]
  after:
    cmd: cp broken.txt after.txt
    deps: [broken.txt]
    outs: [after.txt]
  independent:
    cmd: echo ok > independent.txt
    outs: [independent.txt]
`,
    };
    const root = workspace(files);
    const result = cairn(root, 'run', '--jobs', '1', '--keep-going', '--json');
    assert.equal(result.code, 1);
    const failure = events(result).find((event) => event['event'] === 'stage-end' && event['stage'] === 'broken');
    assert.equal(failure?.['status'], 'failed');
    assert.equal(failure?.['exitCode'], 3);
    assert.ok((failure?.['tail'] as string[]).includes('ValueError - bad row 7'));
    assert.equal(ended(result)['after'], 'blocked');
    assert.equal(ended(result)['independent'], 'succeeded');
    const human = cairn(root, 'run');
    assert.match(human.stderr, /Stage 'broken' failed: exit code 3/);
    assert.match(human.stderr, /ValueError - bad row 7/);
  });

  it('expands foreach stages as name@key and runs each', () => {
    const root = workspace({
      'pipeline.yaml': `stages:
  split:
    foreach: [train, test]
    do:
      cmd: echo \${item} > \${item}.txt
      outs:
        - \${item}.txt
`,
    });
    const result = cairn(root, 'run', '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(ended(result), { 'split@train': 'succeeded', 'split@test': 'succeeded' });
    assert.equal(read(root, 'test.txt'), 'test\n');
  });

  it('runs a target with what it needs, or with --downstream what follows it', () => {
    const root = workspace(CHAIN);
    assert.deepEqual(ended(cairn(root, 'run', 'train', '--json')), { prepare: 'succeeded', train: 'succeeded' });
    fs.writeFileSync(path.join(root, 'data/raw.txt'), '5\n');
    assert.deepEqual(ended(cairn(root, 'run', 'train', '--downstream', '--json')), {
      train: 'skipped',
      report: 'succeeded',
    });
  });

  it('expands matrix stages as name@key', () => {
    const root = workspace({
      'pipeline.yaml': `stages:
  fit:
    matrix:
      model: [tree, linear]
      seed: [1, 2]
    cmd: echo \${item.model} \${item.seed} > fit-\${item.model}-\${item.seed}.txt
    outs:
      - fit-\${item.model}-\${item.seed}.txt
`,
    });
    const result = cairn(root, 'run', '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(Object.keys(ended(result)).sort(), ['fit@linear-1', 'fit@linear-2', 'fit@tree-1', 'fit@tree-2']);
    assert.equal(read(root, 'fit-tree-2.txt'), 'tree 2\n');
  });

  it('quotes interpolated values, so a params file cannot inject a shell command', () => {
    const root = workspace({
      'params.yaml': 'name: "x; touch injected"\n',
      'pipeline.yaml':
        'stages:\n  greet:\n    cmd: echo ${name} > greeting.txt\n    params: [name]\n    outs: [greeting.txt]\n',
    });
    assert.equal(cairn(root, 'run').code, 0);
    assert.equal(read(root, 'greeting.txt'), 'x; touch injected\n');
    assert.ok(!fs.existsSync(path.join(root, 'injected')));
  });

  it('unpacks a mapping in a command into arguments, as DVC does, quoting keys and values', () => {
    const root = workspace({
      'params.yaml': yaml`
        train:
          lr: 0.1
          name: two words
          shuffle: true
          verbose: false
          layers: [8, 4]
          optimizer: { kind: adam }
          "x; touch injected": 1
      `,
      'pipeline.yaml':
        'stages:\n  fit:\n    cmd: printf "%s\\n" ${train} > args.txt\n    params: [train]\n    outs: [args.txt]\n',
    });
    const result = cairn(root, 'run');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(read(root, 'args.txt').split('\n'), [
      '--lr',
      '0.1',
      '--name',
      'two words',
      '--shuffle',
      '--layers',
      '8',
      '4',
      '--optimizer.kind',
      'adam',
      '--x; touch injected',
      '1',
      '',
    ]);
    assert.ok(!fs.existsSync(path.join(root, 'injected')));
  });

  it('says which stage has a problem and exits with 2 on bad input', () => {
    const root = workspace({ 'pipeline.yaml': 'stages:\n  a:\n    cmd: echo ${nowhere}\n' });
    const result = cairn(root, 'run');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /pipeline\.yaml:3: .*nowhere/);
    const unknown = cairn(workspace(CHAIN), 'run', 'nope');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /No stage 'nope'\. Stages: prepare, train, report/);
  });

  it('honours a dvc.lock written by DVC: a reproduced repository is up to date', () => {
    const md5 = (text: string): string => createHash('md5').update(text).digest('hex');
    const root = workspace({
      'dvc.yaml': 'stages:\n  copy:\n    cmd: cp in.txt out.txt\n    deps:\n    - in.txt\n    outs:\n    - out.txt\n',
      'in.txt': 'hello\n',
      'out.txt': 'hello\n',
      'dvc.lock': `schema: '2.0'
stages:
  copy:
    cmd: cp in.txt out.txt
    deps:
    - path: in.txt
      hash: md5
      md5: ${md5('hello\n')}
      size: 6
    outs:
    - path: out.txt
      hash: md5
      md5: ${md5('hello\n')}
      size: 6
`,
    });
    const status = JSON.parse(cairn(root, 'status', '--json').stdout) as {
      pipelines: { stages: { state: string }[] }[];
    };
    assert.equal(status.pipelines[0]?.stages[0]?.state, 'up-to-date');
    assert.deepEqual(ended(cairn(root, 'run', '--json')), { copy: 'skipped' });
    fs.writeFileSync(path.join(root, 'in.txt'), 'changed\n');
    assert.deepEqual(ended(cairn(root, 'run', '--json')), { copy: 'succeeded' });
    assert.match(read(root, 'dvc.lock'), new RegExp(md5('changed\n')));
  });

  it('gc removes cached outs that no lock file refers to and keeps the rest', () => {
    const root = workspace(CHAIN);
    assert.equal(cairn(root, 'run').code, 0);
    fs.writeFileSync(path.join(root, 'params.yaml'), 'prepare:\n  factor: 2\ntrain:\n  lr: 0.9\n');
    assert.equal(cairn(root, 'run').code, 0);
    const gc = JSON.parse(cairn(root, 'gc', '--json').stdout) as { removedObjects: number };
    assert.equal(gc.removedObjects, 1, 'the model of lr 0.5 is no longer referenced');
    fs.rmSync(path.join(root, 'models/model.txt'));
    fs.rmSync(path.join(root, 'data/prepared.txt'));
    assert.deepEqual(ended(cairn(root, 'run', '--json')), {
      prepare: 'restored',
      train: 'restored',
      report: 'skipped',
    });
  });

  it('traces an imported dataset version back to the stage that made its source', () => {
    const root = workspace({
      'pipeline.yaml': `datasets:
  people:
    source:
      type: csv
      path: data/people.csv
stages:
  make:
    cmd: mkdir -p data && printf 'name,age\\nada,36\\n' > data/people.csv
    outs: [data/people.csv]
`,
    });
    assert.equal(cairn(root, 'run').code, 0);
    const imported = cairn(root, 'data', 'import');
    assert.equal(imported.code, 0, imported.stderr);
    const graph = JSON.parse(cairn(root, 'lineage', 'people@1', '--json').stdout) as {
      target: string;
      edges: { from: string; to: string }[];
    };
    assert.equal(graph.target, 'dataset:people@1');
    assert.ok(graph.edges.some((edge) => edge.from === 'file:data/people.csv' && edge.to === 'dataset:people@1'));
    assert.ok(graph.edges.some((edge) => edge.from === 'stage:make' && edge.to === 'file:data/people.csv'));
  });

  it('tracks every run as an experiment run: params, declared and live metrics, artifacts', () => {
    const root = workspace({
      'params.yaml': 'train:\n  lr: 0.5\n  model:\n    depth: 3\n',
      'train.sh': `for i in 1 2 3; do echo "{\\"step\\": $i, \\"loss\\": 0.$((9 - i))}" >> "$CAIRN_METRICS_PATH"; done\necho '{"auc": 0.91}' > metrics.json\n`,
      'pipeline.yaml':
        'stages:\n  train:\n    cmd: sh train.sh\n    deps: [train.sh]\n    params: [train]\n    metrics:\n      - metrics.json:\n          cache: false\n',
    });
    assert.equal(cairn(root, 'run').code, 0);
    const listed = JSON.parse(
      cairn(root, 'exp', 'list', '--filter', 'metrics.auc >= 0.9 AND params.train.lr = 0.5', '--json').stdout,
    ) as {
      runs: { id: string; params: Record<string, string>; metrics: Record<string, number> }[];
    };
    assert.equal(listed.runs.length, 1);
    assert.deepEqual(listed.runs[0]?.params, { 'train.lr': '0.5', 'train.model.depth': '3' });
    assert.deepEqual(listed.runs[0]?.metrics, { auc: 0.91, loss: 0.6 });
    const shown = cairn(root, 'exp', 'show', listed.runs[0]?.id ?? '');
    assert.match(shown.stdout, /loss\s+0\.6\s+3\s+3\s+0\.6\s+0\.8/);
    assert.match(shown.stdout, /metrics\.json [0-9a-f]{32}/);
  });

  it('records lineage: a file traces back to its stage, inputs, params and code version', () => {
    const root = workspace(CHAIN);
    spawnSync('git', ['init', '-q'], { cwd: root });
    assert.equal(cairn(root, 'run').code, 0);
    const graph = JSON.parse(cairn(root, 'lineage', 'models/model.txt', '--json').stdout) as {
      nodes: { id: string }[];
      edges: { from: string; to: string }[];
    };
    const ids = graph.nodes.map((node) => node.id);
    for (const id of [
      'file:models/model.txt',
      'stage:train',
      'file:data/prepared.txt',
      'stage:prepare',
      'file:data/raw.txt',
      'param:params.yaml:train.lr',
      'stage:report',
      'file:metrics.txt',
    ])
      assert.ok(ids.includes(id), `${id} in ${ids.join(', ')}`);
    assert.ok(graph.edges.some((edge) => edge.from === 'file:data/raw.txt' && edge.to === 'stage:prepare'));
    const exported = path.join(root, 'events.jsonl');
    assert.equal(cairn(root, 'lineage', '--openlineage', exported).code, 0);
    const lines = read(root, 'events.jsonl')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(lines.length, 6);
    assert.equal(lines[0]?.['eventType'], 'START');
    assert.match(
      String((lines[0]?.['run'] as Record<string, unknown>)['runId']),
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });
});

describe('cairn run, interrupted', function () {
  this.timeout(60000);

  const SLOW = {
    'pipeline.yaml': `stages:
  quick:
    cmd: echo done > quick.txt
    outs: [quick.txt]
  slow:
    cmd: sh -c 'sleep 30 & echo $! > grandchild.pid; wait'
    deps: [quick.txt]
    outs: [slow.txt]
`,
  };

  const startRun = (root: string) => {
    const child = spawn(process.execPath, [CLI, 'run', '--json', '--jobs', '1'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const started = async (stage: string): Promise<void> => {
      for (let waited = 0; waited < 20000; waited += 50) {
        if (stdout.includes(`"stage-start","stage":"${stage}"`) && fs.existsSync(path.join(root, 'grandchild.pid')))
          return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`stage ${stage} did not start: ${stdout}`);
    };
    return { child, exited, started, output: () => stdout };
  };

  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  it('stops the running stage and its process tree on Ctrl-C, records it, and a rerun continues', async () => {
    const root = workspace(SLOW);
    const run = startRun(root);
    await run.started('slow');
    const grandchild = Number(read(root, 'grandchild.pid'));
    assert.ok(alive(grandchild));
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 130);
    for (let waited = 0; alive(grandchild) && waited < 5000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(!alive(grandchild), 'the sleep started by the stage was stopped too');
    assert.match(run.output(), /"stage":"slow","status":"cancelled"/);
    assert.match(read(root, 'pipeline.lock'), /quick:/);
    assert.doesNotMatch(read(root, 'pipeline.lock'), /slow:/);
    fs.writeFileSync(
      path.join(root, 'pipeline.yaml'),
      SLOW['pipeline.yaml'].replace(`sh -c 'sleep 30 & echo $! > grandchild.pid; wait'`, 'echo fast > slow.txt'),
    );
    const rerun = cairn(root, 'run', '--json');
    assert.deepEqual(ended(rerun), { quick: 'skipped', slow: 'succeeded' });
  });

  it('with --wait, a second run waits for the first and then finds the work done', async () => {
    const root = workspace({
      'pipeline.yaml': 'stages:\n  slowish:\n    cmd: sleep 1 && echo done > out.txt\n    outs: [out.txt]\n',
    });
    const first = spawn(process.execPath, [CLI, 'run'], { cwd: root, stdio: 'ignore' });
    const firstExit = new Promise<number | null>((resolve) => first.on('exit', resolve));
    for (let waited = 0; !fs.existsSync(path.join(root, '.cairn', 'run.lock')) && waited < 10000; waited += 20)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const second = spawn(process.execPath, [CLI, 'run', '--wait', '--json'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    second.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const secondExit = await new Promise<number | null>((resolve) => second.on('exit', resolve));
    assert.equal(await firstExit, 0);
    assert.equal(secondExit, 0);
    assert.match(output, /"stage":"slowish","status":"skipped"/);
  });

  it('keeps running and records the result when its reader goes away (an editor reload)', async () => {
    const root = workspace({
      'pipeline.yaml':
        'stages:\n  chatty:\n    cmd: for i in 1 2 3 4 5 6; do echo line $i; sleep 0.1; done; echo done > out.txt\n    outs: [out.txt]\n',
    });
    const child = spawn(process.execPath, [CLI, 'run', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    assert.equal(await exited, 0);
    assert.equal(read(root, 'out.txt'), 'done\n');
    assert.deepEqual(ended(cairn(root, 'run', '--json')), { chatty: 'skipped' });
  });

  it('refuses a second run while one is going, and recovers after the first is killed with -9', async () => {
    const root = workspace(SLOW);
    const run = startRun(root);
    await run.started('slow');
    const second = cairn(root, 'run');
    assert.equal(second.code, 2);
    assert.match(second.stderr, /Another cairn run \(pid \d+/);
    run.child.kill('SIGKILL');
    await run.exited;
    process.kill(Number(read(root, 'grandchild.pid')), 'SIGKILL');
    fs.writeFileSync(
      path.join(root, 'pipeline.yaml'),
      SLOW['pipeline.yaml'].replace(`sh -c 'sleep 30 & echo $! > grandchild.pid; wait'`, 'echo fast > slow.txt'),
    );
    const status = JSON.parse(cairn(root, 'status', '--json').stdout) as {
      pipelines: { stages: { name: string; state: string }[] }[];
    };
    assert.deepEqual(
      status.pipelines[0]?.stages.map((stage) => [stage.name, stage.state]),
      [
        ['quick', 'up-to-date'],
        ['slow', 'cancelled'],
      ],
    );
    const rerun = cairn(root, 'run', '--json');
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual(ended(rerun), { quick: 'skipped', slow: 'succeeded' });
  });
});
