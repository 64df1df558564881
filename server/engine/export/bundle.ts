// A registered model version as a self-contained folder for other runtimes: the ONNX file, its
// signature, what goes in (feature order and types) and what comes out (what each output means),
// runnable examples for onnxruntime in Node and Python, a README on running it on a server, at the
// edge, on mobile and in the browser, and SHA-256 checksums of every file.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelVersion } from '../registry/registry';
import type { TensorSignature } from '../registry/signature';
import { describeTensor } from '../registry/signature';
import { PREDICT_MJS, PREDICT_PY } from './bundleScripts';

/** The onnxruntime-node version the Node example pins: the one Cairn runs models with. */
const ONNXRUNTIME_NODE = '1.30.0';

export interface BundleOptions {
  /** Extra files (a scaler, a vocabulary) copied into extra/ and listed in preprocess.json. */
  include?: string[];
}

export interface BundleResult {
  folder: string;
  /** Bundle-relative paths of the files written, checksums file last. */
  files: string[];
}

/** Raised for a bundle that cannot be written as asked; the message says what to do. */
export class BundleError extends Error {}

/** The feature names a model declares in its metadata (`feature_names`, a JSON array), or null. */
export function featureNames(version: ModelVersion): string[] | null {
  const raw = version.signature.metadata['feature_names'];
  if (raw === undefined) return null;
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) && parsed.every((name) => typeof name === 'string') ? (parsed as string[]) : null;
  } catch {
    return null;
  }
}

/** Writes the bundle of `version` into `folder` (which must be empty or absent). */
export function writeBundle(version: ModelVersion, folder: string, options: BundleOptions = {}): BundleResult {
  if (fs.existsSync(folder) && fs.readdirSync(folder).length > 0)
    throw new BundleError(`${folder} is not empty. Give a new or empty folder, so no file of yours is overwritten.`);
  const includes = (options.include ?? []).map((file) => path.resolve(file));
  for (const file of includes)
    if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile())
      throw new BundleError(`--include ${file}: no such file.`);
  const names = featureNames(version);
  const reference = `${version.model}:${version.version}`;
  fs.mkdirSync(folder, { recursive: true });
  const written: string[] = [];
  const write = (name: string, content: string | Buffer, mode?: number): void => {
    const target = path.join(folder, name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content, mode === undefined ? undefined : { mode });
    written.push(name);
  };
  write('model.onnx', fs.readFileSync(version.objectPath));
  const signature = {
    model: version.model,
    version: version.version,
    aliases: version.aliases,
    md5: version.md5,
    inputs: version.signature.inputs,
    outputs: version.signature.outputs,
    featureNames: names,
    opsets: version.signature.opsets,
    irVersion: version.signature.irVersion,
    producer: version.signature.producer,
    metadata: version.signature.metadata,
  };
  write('signature.json', `${JSON.stringify(signature, null, 2)}\n`);
  const extras = includes.map((file) => `extra/${path.basename(file)}`);
  includes.forEach((file, index) => write(extras[index] ?? '', fs.readFileSync(file)));
  write('preprocess.json', `${JSON.stringify(preprocess(version, names, extras), null, 2)}\n`);
  write('postprocess.json', `${JSON.stringify(postprocess(version), null, 2)}\n`);
  write('sample.json', `${JSON.stringify(sampleRows(version, names), null, 2)}\n`);
  write('predict.mjs', PREDICT_MJS, 0o755);
  write('predict.py', PREDICT_PY, 0o755);
  write(
    'package.json',
    `${JSON.stringify({ name: `${version.model.toLowerCase().replace(/[^a-z0-9-]+/g, '-')}-model`, private: true, type: 'module', dependencies: { 'onnxruntime-node': ONNXRUNTIME_NODE } }, null, 2)}\n`,
  );
  write('requirements.txt', 'onnxruntime>=1.17\nnumpy>=1.24\n');
  write('README.md', readme(version, reference, names, extras));
  const sums = written
    .map(
      (name) =>
        `${createHash('sha256')
          .update(fs.readFileSync(path.join(folder, name)))
          .digest('hex')}  ${name}\n`,
    )
    .join('');
  write('SHA256SUMS', sums);
  return { folder, files: written };
}

function preprocess(version: ModelVersion, names: string[] | null, extras: string[]): Record<string, unknown> {
  const inputs = version.signature.inputs;
  const single = names && inputs.length === 1 ? inputs[0] : undefined;
  return {
    description: single
      ? `One row per example: the ${names?.length ?? 0} features below, in this order, as columns of the input '${single.name}'.`
      : 'One value (or array) per input and example, by input name.',
    layout: single ? 'feature-columns' : 'named-inputs',
    inputs: inputs.map((input) => ({ name: input.name, dtype: input.type, shape: input.shape })),
    features: single
      ? (names ?? []).map((name, position) => ({ name, position, dtype: single.type }))
      : inputs.map((input, position) => ({ name: input.name, position, dtype: input.type })),
    missingValues: 'not allowed: every feature needs a value',
    // The model takes features as the training pipeline made them; a scaler or encoder it used is
    // data for the caller to apply, shipped here when given with --include.
    transforms: extras.map((file) => ({
      file,
      note: 'applied by the training pipeline before the model; apply it too',
    })),
  };
}

function postprocess(version: ModelVersion): Record<string, unknown> {
  const task = version.tags['task'] ?? null;
  return {
    task,
    outputs: version.signature.outputs.map((output) => ({
      name: output.name,
      dtype: output.type,
      shape: output.shape,
      meaning: outputMeaning(output, task),
      ...(isProbability(output, task) ? { threshold: 0.5, positiveWhen: '>= threshold' } : {}),
    })),
  };
}

function isProbability(output: TensorSignature, task: string | null): boolean {
  const width = output.shape?.[output.shape.length - 1];
  return /prob/i.test(output.name) && (width === 1 || output.shape?.length === 1) && task !== 'regression';
}

function outputMeaning(output: TensorSignature, task: string | null): string {
  if (isProbability(output, task)) return 'probability of the positive class (label 1), between 0 and 1';
  if (/label|class/i.test(output.name)) return 'predicted class';
  if (task === 'regression') return 'predicted value';
  return 'model output, as the training pipeline defined it';
}

/** Two rows of zeros in the input's shape, to try the examples on. */
function sampleRows(version: ModelVersion, names: string[] | null): Record<string, unknown>[] {
  const inputs = version.signature.inputs;
  // One value per row, or a list of them for an input wider than one value ([N, 3] takes three).
  const zero = (input: TensorSignature): unknown => {
    const value = input.type === 'string' ? '' : input.type === 'bool' ? false : 0;
    const width = (input.shape ?? [])
      .slice(1)
      .reduce<number>((size, dim) => size * (typeof dim === 'number' ? dim : 1), 1);
    return (input.shape ?? []).length > 1 && width > 1 ? new Array<unknown>(width).fill(value) : value;
  };
  const row = (): Record<string, unknown> =>
    names && inputs.length === 1
      ? Object.fromEntries(names.map((name) => [name, 0]))
      : Object.fromEntries(inputs.map((input) => [input.name, zero(input)]));
  return [row(), row()];
}

function readme(version: ModelVersion, reference: string, names: string[] | null, extras: string[]): string {
  const inputs = version.signature.inputs.map((input) => `- \`${describeTensor(input)}\``).join('\n');
  const outputs = version.signature.outputs.map((output) => `- \`${describeTensor(output)}\``).join('\n');
  const opsets = Object.entries(version.signature.opsets)
    .map(([domain, opset]) => `${domain} ${opset}`)
    .join(', ');
  return `# ${version.model} v${version.version}

${version.description ?? 'A model exported from the Cairn registry.'}

Exported by \`cairn models export\` from ${reference}${version.aliases.length > 0 ? ` (${version.aliases.join(', ')})` : ''}: ONNX IR ${version.signature.irVersion}, opsets ${opsets}${version.signature.producer ? `, produced by ${version.signature.producer}` : ''}.

| file | what |
| --- | --- |
| model.onnx | the model |
| signature.json | inputs and outputs (names, types, shapes), feature names, metadata |
| preprocess.json | what goes in: ${names ? `the ${names.length} features in order` : 'one value per input'}, their types${extras.length > 0 ? ', and the transforms to apply first' : ''} |
| postprocess.json | what comes out and what it means |
| predict.mjs, package.json | a runnable example with onnxruntime-node |
| predict.py, requirements.txt | a runnable example with onnxruntime for Python |
| sample.json | rows to try the examples on (zeros: put real values in) |
${extras.map((file) => `| ${file} | included with --include |\n`).join('')}| SHA256SUMS | checksums: \`sha256sum -c SHA256SUMS\` |

## Inputs and outputs

Inputs:
${inputs}

Outputs:
${outputs}
${names ? `\nFeatures, in the order the input's columns take them: ${names.map((name) => `\`${name}\``).join(', ')}.\n` : ''}
## Run it

Node (18 or later):

    npm install
    node predict.mjs sample.json

Python (3.9 or later):

    pip install -r requirements.txt
    python3 predict.py sample.json

Both print one JSON object per input row, with one value per output.

## Where it runs

- **Server**: \`cairn deploy\` serves it with the Open Inference Protocol; any server for ONNX does
  too, for example KServe (\`modelFormat: onnx\`, \`protocolVersion: v2\`, \`storageUri\` pointing at
  a folder holding model.onnx) or Triton (\`onnxruntime_onnx\` backend).
- **Edge** (a Linux ARM board, a small VM): onnxruntime's Python wheel or the Node package run it as
  above; with onnxruntime's C or C++ API, load model.onnx and feed the input tensors described in
  signature.json.
- **Mobile**: onnxruntime-mobile (Android: the \`com.microsoft.onnxruntime:onnxruntime-android\`
  package; iOS: the \`onnxruntime-objc\` or \`onnxruntime-c\` pod) loads model.onnx as it is, or after
  \`python -m onnxruntime.tools.convert_onnx_models_to_ort model.onnx\` for the smaller ORT format. React
  Native has \`onnxruntime-react-native\`.
- **Browser**: \`onnxruntime-web\` (\`ort.InferenceSession.create('model.onnx')\`), the same tensors as in
  predict.mjs.

Check the files first: \`sha256sum -c SHA256SUMS\`.
`;
}
