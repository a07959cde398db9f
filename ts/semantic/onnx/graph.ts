/**
 * Builds ONNX graphs in TypeScript and serialises them with the ONNX protobuf definitions of
 * `onnx-proto` (pbjs output of the upstream onnx.proto3, ONNX v1.10.2, IR version 8). Used by the
 * TensorFlow.js converter (use-lite) and the RoBERTa-architecture builder; onnxruntime-node runs the
 * result.
 */
import { onnx } from 'onnx-proto';

import { SemrecError } from '../../errors';

/** IR version written into every model: ONNX 1.10 (what onnx-proto's schema describes). */
export const ONNX_IR_VERSION = 8;
/**
 * Default opset of the standard domain. 17 is the first with LayerNormalization; onnxruntime-node 1.30
 * implements opsets up to 23, so every op used here has a CPU kernel.
 */
export const ONNX_OPSET = 17;

export type ElemType = 'float32' | 'int32' | 'int64' | 'bool';

/** onnx.TensorProto.DataType codes. */
export const ELEM_TYPE_CODE: Record<ElemType, number> = { float32: 1, int32: 6, int64: 7, bool: 9 };

export type TensorValues = Float32Array | Int32Array | BigInt64Array | Uint8Array;

/** A constant tensor: values in row-major order, `dims` its shape ([] for a scalar). */
export interface TensorConst {
  type: ElemType;
  dims: number[];
  values: TensorValues;
}

/** A dimension: a fixed size, or a symbolic name such as 'batch' or 'sequence'. */
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  type: ElemType;
  shape: Dim[];
}

/** An attribute value, tagged with its ONNX type (a bare number would be ambiguous between int and float). */
export type Attr =
  | { int: number }
  | { float: number }
  | { ints: number[] }
  | { floats: number[] }
  | { string: string }
  | { tensor: TensorConst };

export const attr = {
  int: (value: number): Attr => ({ int: value }),
  float: (value: number): Attr => ({ float: value }),
  ints: (values: number[]): Attr => ({ ints: values }),
  floats: (values: number[]): Attr => ({ floats: values }),
  string: (value: string): Attr => ({ string: value }),
  tensor: (value: TensorConst): Attr => ({ tensor: value }),
};

export function tensor(type: ElemType, dims: number[], values: ArrayLike<number> | ArrayLike<bigint>): TensorConst {
  const size = dims.reduce((a, b) => a * b, 1);
  if (values.length !== size) {
    throw new SemrecError(`tensor of shape [${dims}] needs ${size} values, got ${values.length}`, 'ERR_INVALID_ARG_VALUE');
  }
  switch (type) {
    case 'float32':
      return { type, dims, values: Float32Array.from(values as ArrayLike<number>) };
    case 'int32':
      return { type, dims, values: Int32Array.from(values as ArrayLike<number>) };
    case 'int64':
      return { type, dims, values: BigInt64Array.from(Array.from(values as ArrayLike<number | bigint>, (v) => BigInt(v))) };
    case 'bool':
      return { type, dims, values: Uint8Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0)) };
  }
}

function tensorProto(name: string, t: TensorConst): onnx.ITensorProto {
  // Little-endian raw bytes (every platform onnxruntime-node ships for is little-endian).
  const bytes = new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength);
  return { name, dims: t.dims, dataType: ELEM_TYPE_CODE[t.type], rawData: bytes };
}

function attributeProto(name: string, value: Attr): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('int' in value) return { name, type: T.INT, i: value.int };
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  if ('ints' in value) return { name, type: T.INTS, ints: value.ints };
  if ('floats' in value) return { name, type: T.FLOATS, floats: value.floats };
  if ('string' in value) return { name, type: T.STRING, s: new TextEncoder().encode(value.string) };
  return { name, type: T.TENSOR, t: tensorProto(name, value.tensor) };
}

function valueInfoProto(v: ValueInfo): onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ELEM_TYPE_CODE[v.type],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export interface ModelInfo {
  /** Written as producer_name / producer_version. */
  producer?: string;
  producerVersion?: string;
  /** Free key/value pairs stored in the model (metadata_props); read back by `readModelMetadata`. */
  metadata?: Record<string, string>;
}

/**
 * Accumulates the nodes, initializers, inputs and outputs of one graph. Names are made unique with a
 * counter, so callers can use readable prefixes ("layer0/attention/q") without tracking collisions.
 */
export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly used = new Set<string>();
  private parameterCount = 0;

  constructor(readonly name: string, readonly opset: number = ONNX_OPSET) {}

  /** A fresh name starting with `prefix`. */
  unique(prefix: string): string {
    let name = prefix;
    for (let i = 1; this.used.has(name); i++) name = `${prefix}_${i}`;
    this.used.add(name);
    return name;
  }

  input(name: string, type: ElemType, shape: Dim[]): string {
    if (this.used.has(name)) throw new SemrecError(`graph input name '${name}' is already used`, 'ERR_INVALID_ARG_VALUE');
    this.used.add(name);
    this.inputs.push({ name, type, shape });
    return name;
  }

  /** Marks an existing value as a graph output (renaming it through Identity when `as` differs). */
  output(value: string, type: ElemType, shape: Dim[], as: string = value): string {
    let name = value;
    if (as !== value) {
      if (this.used.has(as)) throw new SemrecError(`graph output name '${as}' is already used`, 'ERR_INVALID_ARG_VALUE');
      this.used.add(as);
      this.nodes.push({ opType: 'Identity', input: [value], output: [as], name: this.unique(`${as}/identity`) });
      name = as;
    }
    this.outputs.push({ name, type, shape });
    return name;
  }

  /** An initializer (weight or constant) with a unique name derived from `prefix`. */
  constant(prefix: string, t: TensorConst): string {
    const name = this.unique(prefix);
    this.initializers.push(tensorProto(name, t));
    if (t.type === 'float32') this.parameterCount += t.values.length;
    return name;
  }

  /** Number of float32 parameters added through `constant`. */
  get parameters(): number {
    return this.parameterCount;
  }

  /** Adds one node; returns its outputs' names (`outputs` of them, unique, derived from `prefix`). */
  node(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, prefix: string = opType, outputs = 1): string[] {
    const names = Array.from({ length: outputs }, (_, i) => this.unique(outputs === 1 ? prefix : `${prefix}:${i}`));
    this.nodes.push({
      opType,
      input: inputs,
      output: names,
      name: this.unique(`${prefix}/node`),
      attribute: Object.entries(attrs).map(([k, v]) => attributeProto(k, v)),
    });
    return names;
  }

  /** `node` for the common single-output case. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, prefix: string = opType): string {
    return this.node(opType, inputs, attrs, prefix, 1)[0];
  }

  toModel(info: ModelInfo = {}): onnx.IModelProto {
    if (this.outputs.length === 0) throw new SemrecError(`graph '${this.name}' has no outputs`, 'ERR_INTERNAL');
    // Constants that were only read at build time (axes, shapes folded by a converter) are left out.
    const read = new Set<string>([...this.nodes.flatMap((n) => n.input ?? []), ...this.outputs.map((o) => o.name)]);
    return {
      irVersion: ONNX_IR_VERSION,
      producerName: info.producer ?? 'semrec',
      producerVersion: info.producerVersion ?? '',
      opsetImport: [{ domain: '', version: this.opset }],
      metadataProps: Object.entries(info.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers.filter((t) => read.has(t.name!)),
        input: this.inputs.map(valueInfoProto),
        output: this.outputs.map(valueInfoProto),
      },
    };
  }

  /** The model as ONNX protobuf bytes, ready for onnxruntime or a .onnx file. */
  serialize(info: ModelInfo = {}): Uint8Array {
    return onnx.ModelProto.encode(onnx.ModelProto.create(this.toModel(info))).finish();
  }
}

/** Decodes model bytes (for inspection and tests). */
export function decodeModel(bytes: Uint8Array): onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}

/** metadata_props of a serialised model as a plain record. */
export function readModelMetadata(bytes: Uint8Array): Record<string, string> {
  const model = decodeModel(bytes);
  return Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
}
