// The signature of an ONNX model, read from the file itself: its inputs and outputs (name, element
// type, shape with symbolic dimensions kept as their names), the opsets it needs and its producer.
// Serving and deployments check requests against it, so it is recorded with each registered version.
import * as fs from 'node:fs';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export interface TensorSignature {
  name: string;
  /** The element type as a word: float32, int64, string, ... ("sequence", "map" for non-tensors). */
  type: string;
  /** Each dimension: a number, a symbolic name such as "N", or null when the model leaves it unnamed. */
  shape: (number | string | null)[] | null;
}

export interface OnnxSignature {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  /** The opset of each domain; the default domain is "ai.onnx". */
  opsets: Record<string, number>;
  irVersion: number;
  producer: string;
  graphName: string;
  /** The model's metadata_props, such as the feature names. */
  metadata: Record<string, string>;
}

/** Raised for a file that cannot be read as an ONNX model; the message names the file. */
export class OnnxError extends Error {}

const ELEMENT_TYPES: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
};

/** Reads the signature of the ONNX file at `file`. */
export function readOnnxSignature(file: string): OnnxSignature {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new OnnxError(`${file}: cannot read the model (${(error as NodeJS.ErrnoException).code ?? String(error)}).`);
  }
  return onnxSignature(bytes, file);
}

/** The signature of ONNX bytes; `file` only names them in errors. */
export function onnxSignature(bytes: Uint8Array, file: string): OnnxSignature {
  const notOnnx = (why: string): OnnxError =>
    new OnnxError(`${file} is not an ONNX model (${why}). Give the .onnx file that the training stage exports.`);
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw notOnnx(error instanceof Error ? error.message : String(error));
  }
  // Protobuf decodes many byte strings without complaint; a model has an IR version and a graph.
  const irVersion = toNumber(model.irVersion);
  if (irVersion <= 0) throw notOnnx('no IR version');
  if (!model.graph) throw notOnnx('no graph');
  const initializers = new Set((model.graph.initializer ?? []).map((tensor) => tensor.name));
  const opsets: Record<string, number> = {};
  for (const opset of model.opsetImport) opsets[opset.domain || 'ai.onnx'] = toNumber(opset.version);
  const metadata: Record<string, string> = {};
  for (const entry of model.metadataProps) if (entry.key) metadata[entry.key] = entry.value ?? '';
  return {
    // Before IR version 4 initializers were also listed as inputs; they are weights, not inputs.
    inputs: (model.graph.input ?? []).filter((value) => !initializers.has(value.name)).map(tensorSignature),
    outputs: (model.graph.output ?? []).map(tensorSignature),
    opsets,
    irVersion,
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    graphName: model.graph.name ?? '',
    metadata,
  };
}

function tensorSignature(value: onnxProto.onnx.IValueInfoProto): TensorSignature {
  const name = value.name ?? '';
  const type = value.type;
  const tensor = type?.tensorType ?? type?.sparseTensorType;
  if (!tensor) {
    const kind = type?.sequenceType ? 'sequence' : type?.mapType ? 'map' : type?.optionalType ? 'optional' : 'unknown';
    return { name, type: kind, shape: null };
  }
  const elementType = tensor.elemType ?? 0;
  return {
    name,
    type: ELEMENT_TYPES[elementType] ?? `type ${elementType}`,
    shape: tensor.shape
      ? (tensor.shape.dim ?? []).map((dim) =>
          dim.dimParam ? dim.dimParam : dim.dimValue != null ? toNumber(dim.dimValue) : null,
        )
      : null,
  };
}

/** Protobuf int64 fields come as numbers or as Long objects. */
function toNumber(value: number | { toString(): string } | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : Number(value.toString());
}

/** One line per tensor, for people: `features float32 [N, 7]`. */
export function describeTensor(tensor: TensorSignature): string {
  const shape = tensor.shape ? `[${tensor.shape.map((dim) => (dim === null ? '?' : String(dim))).join(', ')}]` : '';
  return `${tensor.name} ${tensor.type}${shape ? ` ${shape}` : ''}`;
}
