// The runnable examples written into a model bundle: predict.mjs (onnxruntime-node) and predict.py
// (onnxruntime). Both read signature.json beside them, take rows of named features from a JSON file
// (or stdin) and print one JSON object of outputs per row, so they agree with each other and with
// `cairn score`.

/** predict.mjs: runs model.onnx with onnxruntime-node. */
export const PREDICT_MJS = `#!/usr/bin/env node
// Runs model.onnx on rows of features with onnxruntime-node and prints one JSON object per row.
//   npm install            (installs onnxruntime-node, pinned in package.json)
//   node predict.mjs sample.json      or      cat rows.json | node predict.mjs
// Input: one object {"feature": value, ...}, an array of them, or an array of arrays of numbers in
// the feature order of preprocess.json.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');
const here = dirname(fileURLToPath(import.meta.url));
const signature = JSON.parse(readFileSync(join(here, 'signature.json'), 'utf8'));

const ARRAYS = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  int8: Int8Array,
  bool: Uint8Array,
};

function fail(message) {
  process.stderr.write(\`predict: \${message}\\n\`);
  process.exit(2);
}

function typedArray(type, values, where) {
  if (type === 'string') return values.map(String);
  const Type = ARRAYS[type];
  if (!Type) fail(\`input type \${type} is not supported by this example\`);
  return Type.from(values, (value, index) => {
    const number = typeof value === 'boolean' ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isFinite(number)) fail(\`\${where(index)}: expected a number, got \${JSON.stringify(value)}\`);
    return type === 'int64' ? BigInt(Math.trunc(number)) : number;
  });
}

/** The input tensors of the rows, by input name. */
function feeds(rows) {
  const result = {};
  const names = signature.featureNames;
  const first = signature.inputs[0];
  if (names && signature.inputs.length === 1) {
    // One 2-D input whose columns are the named features, in order.
    const values = [];
    rows.forEach((row, index) => {
      const vector = Array.isArray(row) ? row : names.map((name) => row[name]);
      if (vector.length !== names.length) fail(\`row \${index + 1}: \${vector.length} values, the model takes \${names.length}\`);
      vector.forEach((value, position) => {
        if (value === undefined) fail(\`row \${index + 1}: no feature '\${names[position]}'\`);
        values.push(value);
      });
    });
    const where = (at) => \`row \${Math.floor(at / names.length) + 1}, feature '\${names[at % names.length]}'\`;
    result[first.name] = new ort.Tensor(first.type, typedArray(first.type, values, where), [rows.length, names.length]);
    return result;
  }
  for (const input of signature.inputs) {
    const values = [];
    rows.forEach((row, index) => {
      if (!(input.name in row)) fail(\`row \${index + 1}: no value for input '\${input.name}'\`);
      const value = row[input.name];
      values.push(...(Array.isArray(value) ? value.flat(Infinity) : [value]));
    });
    const perRow = values.length / rows.length;
    const fixed = (input.shape ?? []).slice(1).map((dim) => (typeof dim === 'number' ? dim : null));
    const dims = fixed.length === 0 ? [rows.length] : [rows.length, ...fixed.map((dim) => dim ?? perRow)];
    result[input.name] = new ort.Tensor(input.type, typedArray(input.type, values, (at) => \`row \${Math.floor(at / perRow) + 1}, input '\${input.name}'\`), dims);
  }
  return result;
}

const text = readFileSync(process.argv[2] ?? 0, 'utf8');
let parsed;
try {
  parsed = JSON.parse(text);
} catch (error) {
  fail(\`\${process.argv[2] ?? 'stdin'} is not JSON (\${error.message})\`);
}
const rows = Array.isArray(parsed) ? parsed : [parsed];
if (rows.length === 0) fail('no rows');
const session = await ort.InferenceSession.create(join(here, 'model.onnx'));
let outputs;
try {
  outputs = await session.run(feeds(rows));
} catch (error) {
  fail(\`the model cannot run on these rows (\${error.message}); see preprocess.json for what it takes\`);
}
const answers = rows.map(() => ({}));
for (const name of session.outputNames) {
  const tensor = outputs[name];
  const width = tensor.data.length / rows.length;
  answers.forEach((answer, index) => {
    const slice = Array.from(tensor.data.slice(index * width, (index + 1) * width), (value) =>
      tensor.type === 'bool' ? value === 1 || value === true : typeof value === 'bigint' ? Number(value) : value,
    );
    answer[name] = width === 1 ? slice[0] : slice;
  });
}
process.stdout.write(\`\${JSON.stringify(answers)}\\n\`);
`;

/** predict.py: runs model.onnx with onnxruntime and numpy. */
export const PREDICT_PY = `#!/usr/bin/env python3
"""Runs model.onnx on rows of features with onnxruntime and prints one JSON object per row.

    pip install -r requirements.txt
    python3 predict.py sample.json      or      cat rows.json | python3 predict.py

Input: one object {"feature": value, ...}, a list of them, or a list of lists of numbers in the
feature order of preprocess.json.
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {
    "float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64,
    "uint8": np.uint8, "int8": np.int8, "bool": np.bool_, "string": np.object_,
}


def fail(message):
    sys.stderr.write("predict: %s\\n" % message)
    sys.exit(2)


def feeds(signature, rows):
    names = signature.get("featureNames")
    inputs = signature["inputs"]
    if names and len(inputs) == 1:
        first = inputs[0]
        matrix = []
        for index, row in enumerate(rows):
            vector = row if isinstance(row, list) else [row.get(name) for name in names]
            if len(vector) != len(names):
                fail("row %d: %d values, the model takes %d" % (index + 1, len(vector), len(names)))
            for position, value in enumerate(vector):
                if not isinstance(value, (int, float)):
                    fail("row %d, feature '%s': expected a number, got %s" % (index + 1, names[position], json.dumps(value)))
            matrix.append(vector)
        return {first["name"]: np.array(matrix, dtype=DTYPES[first["type"]])}
    result = {}
    for spec in inputs:
        values = []
        for index, row in enumerate(rows):
            if spec["name"] not in row:
                fail("row %d: no value for input '%s'" % (index + 1, spec["name"]))
            values.append(row[spec["name"]])
        array = np.array(values, dtype=DTYPES.get(spec["type"], np.float32))
        rank = len(spec.get("shape") or [])
        while array.ndim < rank:
            array = array[..., np.newaxis]
        result[spec["name"]] = array
    return result


def main():
    with open(os.path.join(HERE, "signature.json")) as handle:
        signature = json.load(handle)
    source = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    try:
        parsed = json.load(source)
    except ValueError as error:
        fail("%s is not JSON (%s)" % (sys.argv[1] if len(sys.argv) > 1 else "stdin", error))
    rows = parsed if isinstance(parsed, list) else [parsed]
    if not rows:
        fail("no rows")
    session = ort.InferenceSession(os.path.join(HERE, "model.onnx"), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    outputs = session.run(names, feeds(signature, rows))
    answers = [{} for _ in rows]
    for name, values in zip(names, outputs):
        flat = np.asarray(values).reshape(len(rows), -1)
        for index, answer in enumerate(answers):
            row = flat[index].tolist()
            answer[name] = row[0] if len(row) == 1 else row
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
`;
