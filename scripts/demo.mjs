// `npm run demo`: the main job end to end on the weather example — run its pipeline with the cairn
// CLI (a second run skips every stage), make the model the champion, deploy it to a local model
// server, send it the hold-out days as requests with their labels, and report drift and
// performance; then show what to look at.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const repository = path.resolve(import.meta.dirname, '..');
const example = path.join(repository, 'examples', 'weather');
const cli = path.join(repository, 'dist', 'cli', 'cairn.js');

function cairn(...args) {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: example, stdio: 'inherit' });
  if (result.status !== 0) fail(`'cairn ${args.join(' ')}' failed with exit code ${result.status}.`);
}

function cairnJson(...args) {
  const result = spawnSync(process.execPath, [cli, ...args, '--json'], { cwd: example, encoding: 'utf8' });
  if (result.status !== 0) fail(`'cairn ${args.join(' ')}' failed:\n${result.stderr}`);
  return JSON.parse(result.stdout);
}

function fail(message) {
  process.stderr.write(`\ndemo: ${message}\n`);
  process.exit(1);
}

process.stdout.write(`== cairn run (in ${path.relative(process.cwd(), example) || '.'})\n`);
cairn('run');
process.stdout.write('\n== cairn status\n');
cairn('status');

const metrics = JSON.parse(fs.readFileSync(path.join(example, 'metrics', 'evaluate.json'), 'utf8'));
const row = (name, values) =>
  `  ${name.padEnd(12)} auc ${values.auc.toFixed(3)}  log loss ${values.log_loss.toFixed(3)}  accuracy ${values.accuracy.toFixed(3)}\n`;
process.stdout.write('\n== hold-out results (metrics/evaluate.json)\n');
process.stdout.write(row('model', metrics));
for (const [name, values] of Object.entries(metrics.baselines ?? {})) process.stdout.write(row(name, values));

// The registry: the pipeline registers each new model that passes its gate; the demo makes the
// latest version the champion the deployment serves (unless one is already chosen).
let model = cairnJson('models', 'list').models.find((entry) => entry.name === 'rain-tomorrow');
if (!model) {
  process.stdout.write('\n== cairn models register (the model predates the registry in this workspace)\n');
  cairn('models', 'register', 'rain-tomorrow', 'models/model.onnx', '--metrics', 'metrics/evaluate.json');
  model = cairnJson('models', 'list').models.find((entry) => entry.name === 'rain-tomorrow');
}
if (model.aliases.champion === undefined) {
  process.stdout.write('\n== cairn models alias rain-tomorrow champion\n');
  cairn('models', 'alias', 'rain-tomorrow', 'champion', String(model.latest), '--reason', 'npm run demo');
}

// Deploy on a free port (the file says 8080; the demo must not fail because something else uses it).
process.stdout.write('\n== cairn deploy rain.deploy.yaml\n');
const deployment = cairnJson('deploy', 'rain.deploy.yaml', '--port', '0');
process.stdout.write(`rain-api serves ${deployment.stable.model}:${deployment.stable.version} at ${deployment.url}\n`);

// The hold-out days as one-row requests (the Open Inference Protocol), then their labels.
const [header, ...lines] = fs.readFileSync(path.join(example, 'data/features/holdout.csv'), 'utf8').trim().split('\n');
const columns = header.split(',');
const features = columns.filter((column) => column !== 'date' && column !== 'label');
const labels = [];
let first;
for (const line of lines) {
  const values = line.split(',');
  const record = Object.fromEntries(columns.map((column, index) => [column, values[index]]));
  const response = await fetch(`${deployment.url}/v2/models/rain-tomorrow/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: [
        {
          name: 'features',
          shape: [1, features.length],
          datatype: 'FP32',
          data: features.map((name) => Number(record[name])),
        },
      ],
    }),
  });
  const answer = await response.json();
  if (!response.ok) fail(`the server answered ${response.status}: ${JSON.stringify(answer)}`);
  const requestId = response.headers.get('x-request-id');
  labels.push(JSON.stringify({ request_id: requestId, label: Number(record.label) }));
  first ??= { date: record.date, requestId, probability: answer.outputs[0].data[0] };
}
process.stdout.write(
  `${lines.length} predictions; the first: ${first.date} → P(rain tomorrow) = ${first.probability.toFixed(3)} (request ${first.requestId})\n`,
);
const labelsFile = path.join(example, 'data', 'demo-labels.jsonl');
fs.writeFileSync(labelsFile, `${labels.join('\n')}\n`);
process.stdout.write("\n== cairn monitor labels (the next day's weather, joined by request id)\n");
cairn('monitor', 'labels', 'data/demo-labels.jsonl', '--deployment', 'rain-api');

process.stdout.write('\n== cairn monitor drift: the 2015 hold-out days against the 2012-2014 training days\n');
cairn(
  'monitor',
  'drift',
  '--reference',
  'data/features/train.csv',
  '--current',
  'data/features/holdout.csv',
  '--features',
  features.join(','),
);

process.stdout.write('\n== cairn monitor report rain-api\n');
cairn('monitor', 'report', 'rain-api', '--since', '1h', '--bucket', '1h');

process.stdout.write(`
== what to look at
  examples/weather/metrics/evaluate.json   hold-out metrics of the ONNX model and the baselines
  examples/weather/pipeline.lock           hashes of every dep, param and out per stage
  cd examples/weather && node ../../dist/cli/cairn.js lineage models/model.onnx
                                           where the model came from: data, params, code version
  curl ${deployment.url}/v2/models/rain-tomorrow     the deployed model's signature (it keeps running)
  cd examples/weather && node ../../dist/cli/cairn.js deploy status
  cd examples/weather && node ../../dist/cli/cairn.js deploy stop rain-api     stop the server
  code examples/weather                    the same in VS Code: Pipelines, Experiments, Models and
                                           Deployments views, the monitoring dashboard
`);
