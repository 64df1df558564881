// `npm run demo`: the main job end to end on the weather example — run its pipeline with the cairn
// CLI (a second run skips every stage), then show what to look at.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const repository = path.resolve(import.meta.dirname, '..');
const example = path.join(repository, 'examples', 'weather');
const cli = path.join(repository, 'dist', 'cli', 'cairn.js');

function cairn(...args) {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: example, stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(`\ndemo: 'cairn ${args.join(' ')}' failed with exit code ${result.status}.\n`);
    process.exit(result.status ?? 1);
  }
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

process.stdout.write(`
== what to look at
  examples/weather/metrics/evaluate.json   hold-out metrics of the ONNX model and the baselines
  examples/weather/models/model.onnx       the trained model (runs in onnxruntime-node)
  examples/weather/pipeline.lock           hashes of every dep, param and out per stage
  cd examples/weather && node ../../dist/cli/cairn.js lineage models/model.onnx
                                           where the model came from: data, params, code version
  npm run demo                             again: every stage is skipped, nothing changed
  code examples/weather                    the same in VS Code: Pipelines view, Run stage lenses, lineage graph
`);
