/**
 * An op-by-op converter from a TensorFlow.js graph model (model.json + binary weight shards) to ONNX.
 * Each TensorFlow op becomes the ONNX op (or the few ops) with the same semantics; constants come from
 * the weight manifest. It covers the ops of the graphs semrec converts (Universal Sentence Encoder
 * lite) and fails with a clear error on anything else, naming the node and op.
 *
 * Static shapes are tracked where they can be (ranks are needed by BatchMatMul's adjoint flags, Pack,
 * Squeeze and the like); constant inputs (axes, permutations, slice bounds) are read at conversion time.
 */
import fs from 'node:fs';
import path from 'node:path';

import { SemrecError } from '../../errors';
import { type Attr, attr, type ElemType, GraphBuilder, type TensorConst, tensor } from './graph';

// ---------------------------------------------------------------- model.json

export interface TfAttrValue {
  i?: string | number;
  f?: number;
  b?: boolean;
  s?: string | number[];
  type?: number | string;
  list?: { i?: (string | number)[]; s?: (string | number[])[] };
  shape?: { dim?: { size: string | number }[]; unknownRank?: boolean };
  tensor?: { dtype?: number | string; tensorShape?: { dim?: { size: string | number }[] } };
}

export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttrValue>;
}

export interface TfWeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  quantization?: unknown;
}

export interface TfjsModelJson {
  format?: string;
  modelTopology: { node: TfNode[]; library?: { function?: unknown[] } };
  weightsManifest: { paths: string[]; weights: TfWeightSpec[] }[];
}

export interface TfjsModel {
  nodes: TfNode[];
  /** Weight values by (constant node) name, exactly as stored: float32, int32 or bool. */
  weights: Map<string, { dtype: TfWeightSpec['dtype']; shape: number[]; values: Float32Array | Int32Array | Uint8Array }>;
}

/** Reads model.json and its weight shards from a directory. */
export function readTfjsModel(dir: string): TfjsModel {
  const jsonPath = path.join(dir, 'model.json');
  let json: TfjsModelJson;
  try {
    json = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as TfjsModelJson;
  } catch (cause) {
    throw new SemrecError(`cannot read the TensorFlow.js model ${jsonPath}: ${(cause as Error).message}`, 'ERR_MODEL_FORMAT', { cause });
  }
  if (!json.modelTopology?.node || !Array.isArray(json.weightsManifest)) {
    throw new SemrecError(`${jsonPath} is not a TensorFlow.js graph model (no modelTopology.node / weightsManifest)`, 'ERR_MODEL_FORMAT');
  }
  if (json.modelTopology.library?.function?.length) {
    throw new SemrecError(`${jsonPath}: graphs with functions (control flow) are not supported`, 'ERR_MODEL_FORMAT');
  }
  const weights: TfjsModel['weights'] = new Map();
  for (const group of json.weightsManifest) {
    const buffers = group.paths.map((p) => fs.readFileSync(path.join(dir, p)));
    const data = Buffer.concat(buffers);
    let offset = 0;
    for (const spec of group.weights) {
      if (spec.quantization) throw new SemrecError(`${jsonPath}: quantised weight ${spec.name} is not supported`, 'ERR_MODEL_FORMAT');
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const bytes = spec.dtype === 'bool' ? count : count * 4;
      if (offset + bytes > data.length) {
        throw new SemrecError(`${jsonPath}: weight ${spec.name} runs past the end of its shards (${data.length} bytes)`, 'ERR_MODEL_FORMAT');
      }
      const slice = new Uint8Array(data.buffer.slice(data.byteOffset + offset, data.byteOffset + offset + bytes));
      const values =
        spec.dtype === 'float32' ? new Float32Array(slice.buffer) : spec.dtype === 'int32' ? new Int32Array(slice.buffer) : slice;
      weights.set(spec.name, { dtype: spec.dtype, shape: spec.shape, values });
      offset += bytes;
    }
    if (offset !== data.length) {
      throw new SemrecError(`${jsonPath}: shards of group ${group.paths[0]} hold ${data.length} bytes, the manifest ${offset}`, 'ERR_MODEL_FORMAT');
    }
  }
  return { nodes: json.modelTopology.node, weights };
}

// ---------------------------------------------------------------- conversion state

/** A converted value: its ONNX name, element type, and static shape where known (null = unknown). */
interface Value {
  name: string;
  type: ElemType;
  shape: (number | null)[] | null;
  /** Values known at conversion time (constants and what folds from them), row-major. */
  known?: number[];
}

const TF_DTYPES: Record<string, ElemType> = {
  '1': 'float32',
  DT_FLOAT: 'float32',
  '3': 'int32',
  DT_INT32: 'int32',
  '9': 'int64',
  DT_INT64: 'int64',
  '10': 'bool',
  DT_BOOL: 'bool',
};

function tfType(node: TfNode, key: string): ElemType {
  const raw = node.attr?.[key]?.type;
  const type = raw === undefined ? undefined : TF_DTYPES[String(raw)];
  if (!type) throw new SemrecError(`node ${node.name} (${node.op}): unsupported dtype ${String(raw)} in attr ${key}`, 'ERR_MODEL_FORMAT');
  return type;
}

function attrInt(node: TfNode, key: string, fallback?: number): number {
  const v = node.attr?.[key]?.i;
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new SemrecError(`node ${node.name} (${node.op}): missing attr ${key}`, 'ERR_MODEL_FORMAT');
  }
  return Number(v);
}

function attrBool(node: TfNode, key: string, fallback = false): boolean {
  return node.attr?.[key]?.b ?? fallback;
}

function attrInts(node: TfNode, key: string): number[] {
  return (node.attr?.[key]?.list?.i ?? []).map(Number);
}

function attrString(node: TfNode, key: string): string | undefined {
  const s = node.attr?.[key]?.s;
  if (s === undefined) return undefined;
  if (Array.isArray(s)) return String.fromCharCode(...s);
  return Buffer.from(s, 'base64').toString('latin1');
}

/** Stands for 'to the end' in slice bounds: onnxruntime clamps bounds to the dimension. */
const TO_END = Number.MAX_SAFE_INTEGER;

export interface ConvertOptions {
  /** TF placeholder name -> ONNX value already in the builder (with its element type and static shape). */
  inputs: Record<string, { name: string; type: ElemType; shape: (number | null)[] }>;
  /** TF tensor names to compute ("node" or "node:1"). */
  outputs: string[];
  /**
   * Replaces the value of a TF tensor right after its node is converted (for adapting a graph to a new
   * input convention); receives the converted value and returns the ONNX name to use instead, which
   * must have the same element type and shape.
   */
  patch?: Record<string, (value: string, g: GraphBuilder) => string>;
}

/**
 * Converts the part of `model` that `options.outputs` depend on into nodes of `g`; returns the ONNX
 * names of the outputs with their element types and static shapes.
 */
export function convertTfjsGraph(
  model: TfjsModel,
  g: GraphBuilder,
  options: ConvertOptions,
): { name: string; type: ElemType; shape: (number | null)[] | null }[] {
  const byName = new Map(model.nodes.map((n) => [n.name, n]));
  const values = new Map<string, Value[]>(); // node name -> its outputs

  const parseRef = (ref: string): { node: string; index: number } => {
    const m = /^(.*):(\d+)$/.exec(ref);
    return m ? { node: m[1], index: Number(m[2]) } : { node: ref, index: 0 };
  };

  // Iterative post-order over the dependencies of the outputs (graphs can be deep).
  const order: TfNode[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  for (const out of options.outputs) {
    const stack: { node: TfNode; expanded: boolean }[] = [];
    const root = byName.get(parseRef(out).node);
    if (!root) throw new SemrecError(`the graph has no node named ${out}`, 'ERR_MODEL_FORMAT');
    stack.push({ node: root, expanded: false });
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (state.get(top.node.name) === 'done') {
        stack.pop();
        continue;
      }
      if (top.expanded) {
        state.set(top.node.name, 'done');
        order.push(top.node);
        stack.pop();
        continue;
      }
      top.expanded = true;
      state.set(top.node.name, 'visiting');
      for (const ref of top.node.input ?? []) {
        if (ref.startsWith('^')) continue; // control dependency: no data flows
        const dep = byName.get(parseRef(ref).node);
        if (!dep) throw new SemrecError(`node ${top.node.name} reads ${ref}, which the graph does not define`, 'ERR_MODEL_FORMAT');
        const s = state.get(dep.name);
        if (s === 'visiting') throw new SemrecError(`the graph has a cycle through ${dep.name}`, 'ERR_MODEL_FORMAT');
        if (s !== 'done') stack.push({ node: dep, expanded: false });
      }
    }
  }

  const ctx = new Converter(g, model);
  for (const node of order) {
    const inputs = (node.input ?? [])
      .filter((r) => !r.startsWith('^'))
      .map((r) => {
        const { node: n, index } = parseRef(r);
        const v = values.get(n)?.[index];
        if (!v) throw new SemrecError(`node ${node.name} reads output ${index} of ${n}, which has none`, 'ERR_MODEL_FORMAT');
        return v;
      });
    let outs: Value[];
    if (node.op === 'Placeholder') {
      const given = options.inputs[node.name];
      if (!given) throw new SemrecError(`no ONNX input was given for the placeholder ${node.name}`, 'ERR_INVALID_ARG_VALUE');
      outs = [{ ...given }];
    } else {
      outs = ctx.convert(node, inputs);
    }
    const patch = options.patch?.[node.name];
    if (patch) outs[0] = { ...outs[0], name: patch(outs[0].name, g), known: undefined };
    values.set(node.name, outs);
  }
  return options.outputs.map((out) => {
    const { node, index } = parseRef(out);
    const v = values.get(node)![index];
    return { name: v.name, type: v.type, shape: v.shape };
  });
}

// ---------------------------------------------------------------- op conversions

class Converter {
  constructor(
    private readonly g: GraphBuilder,
    private readonly model: TfjsModel,
  ) {}

  private fail(node: TfNode, why: string): never {
    throw new SemrecError(`cannot convert node ${node.name} (${node.op}): ${why}`, 'ERR_MODEL_FORMAT');
  }

  private known(node: TfNode, v: Value, what: string): number[] {
    if (!v.known) this.fail(node, `${what} must be a constant`);
    return v.known;
  }

  private const(prefix: string, t: TensorConst): Value {
    const known = t.type === 'int64' ? Array.from(t.values as BigInt64Array, Number) : Array.from(t.values as ArrayLike<number>);
    return { name: this.g.constant(prefix, t), type: t.type, shape: t.dims, known: known.length <= 64 ? known : undefined };
  }

  private i64(prefix: string, values: number[]): string {
    return this.g.constant(prefix, tensor('int64', [values.length], values));
  }

  /** The value as int64 (ONNX wants int64 for shapes, axes and most indices). */
  private asInt64(v: Value): string {
    if (v.type === 'int64') return v.name;
    return this.g.op('Cast', [v.name], { to: attr.int(7) }, `${v.name}/to_int64`);
  }

  private castTo(v: string, to: ElemType, prefix: string): string {
    const code = { float32: 1, int32: 6, int64: 7, bool: 9 }[to];
    return this.g.op('Cast', [v], { to: attr.int(code) }, prefix);
  }

  private rank(node: TfNode, v: Value, what = 'input'): number {
    if (!v.shape) this.fail(node, `the rank of its ${what} is unknown`);
    return v.shape.length;
  }

  convert(node: TfNode, x: Value[]): Value[] {
    const g = this.g;
    const name = node.name;
    const same = (onnxName: string, like: Value, shape = like.shape): Value[] => [{ name: onnxName, type: like.type, shape }];
    const broadcast = (a: Value, b: Value): (number | null)[] | null => {
      if (!a.shape || !b.shape) return null;
      const r = Math.max(a.shape.length, b.shape.length);
      const out: (number | null)[] = [];
      for (let i = 0; i < r; i++) {
        const da = a.shape[a.shape.length - r + i] ?? 1;
        const db = b.shape[b.shape.length - r + i] ?? 1;
        out.push(da === 1 ? db : db === 1 ? da : da === db ? da : null);
      }
      return out;
    };
    const binary = (op: string, outType?: ElemType): Value[] => {
      if (x[0].type !== x[1].type) this.fail(node, `operands have different types (${x[0].type}, ${x[1].type})`);
      return [{ name: g.op(op, [x[0].name, x[1].name], {}, name), type: outType ?? x[0].type, shape: broadcast(x[0], x[1]) }];
    };
    const unary = (op: string): Value[] => same(g.op(op, [x[0].name], {}, name), x[0]);

    switch (node.op) {
      case 'Const':
        return [this.constNode(node)];
      case 'Identity':
        return [x[0]];
      case 'Add':
      case 'AddV2':
        return binary('Add');
      case 'BiasAdd': {
        const fmt = attrString(node, 'data_format');
        if (fmt && fmt !== 'NHWC') this.fail(node, `data_format ${fmt} is not supported`);
        return [{ name: g.op('Add', [x[0].name, x[1].name], {}, name), type: x[0].type, shape: x[0].shape }];
      }
      case 'Sub':
        return binary('Sub');
      case 'Mul':
        return binary('Mul');
      case 'RealDiv':
        return binary('Div');
      case 'Maximum':
        return binary('Max');
      case 'Less':
        return binary('Less', 'bool');
      case 'Greater':
        return binary('Greater', 'bool');
      case 'LogicalNot':
        return unary('Not');
      case 'Sin':
        return unary('Sin');
      case 'Cos':
        return unary('Cos');
      case 'Relu':
        return unary('Relu');
      case 'Tanh':
        return unary('Tanh');
      case 'Square':
        return same(g.op('Mul', [x[0].name, x[0].name], {}, name), x[0]);
      case 'Rsqrt':
        return same(g.op('Reciprocal', [g.op('Sqrt', [x[0].name], {}, `${name}/sqrt`)], {}, name), x[0]);
      case 'Softmax':
        return same(g.op('Softmax', [x[0].name], { axis: attr.int(-1) }, name), x[0]);
      case 'Cast': {
        const to = tfType(node, 'DstT');
        return [{ name: this.castTo(x[0].name, to, name), type: to, shape: x[0].shape }];
      }
      case 'Shape': {
        const outType = node.attr?.out_type ? tfType(node, 'out_type') : 'int32';
        const s = g.op('Shape', [x[0].name], {}, `${name}/int64`);
        const r = x[0].shape?.length ?? null;
        return [{ name: outType === 'int64' ? s : this.castTo(s, outType, name), type: outType, shape: [r] }];
      }
      case 'Reshape': {
        const shape = x[1];
        const outShape = shape.known ? shape.known.map((d) => (d < 0 ? null : d)) : shape.shape?.[0] != null ? new Array(shape.shape[0]).fill(null) : null;
        // allowzero=1: a 0 in the target shape means size 0, as in TensorFlow (ONNX would copy the input dim).
        return [{ name: g.op('Reshape', [x[0].name, this.asInt64(shape)], { allowzero: attr.int(1) }, name), type: x[0].type, shape: outShape }];
      }
      case 'ExpandDims': {
        const axis = this.known(node, x[1], 'dim')[0];
        const r = this.rank(node, x[0]);
        const a = axis < 0 ? axis + r + 1 : axis;
        const shape = [...x[0].shape!];
        shape.splice(a, 0, 1);
        return same(g.op('Unsqueeze', [x[0].name, this.i64(`${name}/axes`, [a])], {}, name), x[0], shape);
      }
      case 'Squeeze': {
        const r = this.rank(node, x[0]);
        let axes = attrInts(node, 'squeeze_dims');
        if (axes.length === 0) axes = attrInts(node, 'axis');
        if (axes.length === 0) {
          axes = x[0].shape!.flatMap((d, i) => (d === 1 ? [i] : []));
          if (x[0].shape!.some((d) => d === null)) this.fail(node, 'squeezing all size-1 dims needs a static shape');
        }
        axes = axes.map((a) => (a < 0 ? a + r : a));
        const shape = x[0].shape!.filter((_, i) => !axes.includes(i));
        return same(g.op('Squeeze', [x[0].name, this.i64(`${name}/axes`, axes)], {}, name), x[0], shape);
      }
      case 'Transpose': {
        const perm = this.known(node, x[1], 'perm');
        const shape = x[0].shape ? perm.map((p) => x[0].shape![p]) : null;
        return same(g.op('Transpose', [x[0].name], { perm: attr.ints(perm) }, name), x[0], shape);
      }
      case 'ConcatV2': {
        const parts = x.slice(0, -1);
        const axisRaw = this.known(node, x[x.length - 1], 'axis')[0];
        const r = this.rank(node, parts[0]);
        const axis = axisRaw < 0 ? axisRaw + r : axisRaw;
        const shape = [...parts[0].shape!];
        shape[axis] = parts.every((p) => p.shape?.[axis] != null) ? parts.reduce((s, p) => s + (p.shape![axis] as number), 0) : null;
        const known = parts.every((p) => p.known) && r === 1 ? parts.flatMap((p) => p.known!) : undefined;
        return [{ name: g.op('Concat', parts.map((p) => p.name), { axis: attr.int(axis) }, name), type: parts[0].type, shape, known }];
      }
      case 'Pack': {
        const axisRaw = attrInt(node, 'axis', 0);
        const r = this.rank(node, x[0]);
        const axis = axisRaw < 0 ? axisRaw + r + 1 : axisRaw;
        const axes = this.i64(`${name}/axes`, [axis]);
        const parts = x.map((v, i) => g.op('Unsqueeze', [v.name, axes], {}, `${name}/unsqueeze${i}`));
        const shape = [...x[0].shape!];
        shape.splice(axis, 0, x.length);
        const known = r === 0 && x.every((v) => v.known) ? x.map((v) => v.known![0]) : undefined;
        return [{ name: g.op('Concat', parts, { axis: attr.int(axis) }, name), type: x[0].type, shape, known }];
      }
      case 'GatherV2': {
        const axisRaw = this.known(node, x[2], 'axis')[0];
        const r = this.rank(node, x[0], 'params');
        const axis = axisRaw < 0 ? axisRaw + r : axisRaw;
        if (attrInt(node, 'batch_dims', 0) !== 0) this.fail(node, 'batch_dims is not supported');
        const shape = x[1].shape ? [...x[0].shape!.slice(0, axis), ...x[1].shape, ...x[0].shape!.slice(axis + 1)] : null;
        return same(g.op('Gather', [x[0].name, x[1].name], { axis: attr.int(axis) }, name), x[0], shape);
      }
      case 'GatherNd': {
        const depth = x[1].shape?.[x[1].shape.length - 1];
        const shape = x[1].shape && x[0].shape && depth != null ? [...x[1].shape.slice(0, -1), ...x[0].shape.slice(depth)] : null;
        return same(g.op('GatherND', [x[0].name, this.asInt64(x[1])], {}, name), x[0], shape);
      }
      case 'ScatterNd': {
        // TF adds updates that hit the same index; reduction='add' onto zeros does the same.
        const [indices, updates, shape] = x;
        const zeros = g.op('ConstantOfShape', [this.asInt64(shape)], { value: attr.tensor(tensor(updates.type, [1], [0])) }, `${name}/zeros`);
        const out = g.op('ScatterND', [zeros, this.asInt64(indices), updates.name], { reduction: attr.string('add') }, name);
        const outShape = shape.known ? shape.known : shape.shape?.[0] != null ? new Array(shape.shape[0]).fill(null) : null;
        return [{ name: out, type: updates.type, shape: outShape }];
      }
      case 'SparseToDense': {
        const [indices, outputShape, sparseValues, defaultValue] = x;
        const shape64 = this.asInt64(outputShape);
        const dense = g.op('Expand', [defaultValue.name, shape64], {}, `${name}/default`);
        let idx = this.asInt64(indices);
        if (indices.shape?.length === 1) idx = g.op('Unsqueeze', [idx, this.i64(`${name}/axes`, [1])], {}, `${name}/indices`);
        const n = g.op('Gather', [g.op('Shape', [idx], {}, `${name}/ishape`), this.i64(`${name}/zero`, [0])], {}, `${name}/n`);
        let vals = sparseValues.name;
        if (sparseValues.shape?.length === 0) vals = g.op('Expand', [vals, n], {}, `${name}/values`);
        // TF requires the indices to be unique (validate_indices), so plain ScatterND is exact.
        const outShape = outputShape.shape?.[0] != null ? new Array(outputShape.shape[0]).fill(null) : null;
        return [{ name: g.op('ScatterND', [dense, idx, vals], {}, name), type: sparseValues.type, shape: outShape }];
      }
      case 'Where': {
        if (x.length !== 1) this.fail(node, 'only the one-input form (coordinates of true elements) is supported');
        const r = this.rank(node, x[0]);
        const nz = g.op('NonZero', [x[0].name], {}, `${name}/nonzero`);
        return [{ name: g.op('Transpose', [nz], { perm: attr.ints([1, 0]) }, name), type: 'int64', shape: [null, r] }];
      }
      case 'Sum':
      case 'Max':
      case 'Mean':
      case 'Prod':
        return [this.reduce(node, x)];
      case 'Range': {
        const [start, limit, delta] = x;
        return [{ name: g.op('Range', [start.name, limit.name, delta.name], {}, name), type: start.type, shape: [null] }];
      }
      case 'MatMul': {
        let a = x[0].name;
        let b = x[1].name;
        if (attrBool(node, 'transpose_a')) a = g.op('Transpose', [a], { perm: attr.ints([1, 0]) }, `${name}/a_t`);
        if (attrBool(node, 'transpose_b')) b = g.op('Transpose', [b], { perm: attr.ints([1, 0]) }, `${name}/b_t`);
        const m = x[0].shape?.[attrBool(node, 'transpose_a') ? 1 : 0] ?? null;
        const n = x[1].shape?.[attrBool(node, 'transpose_b') ? 0 : 1] ?? null;
        return same(g.op('MatMul', [a, b], {}, name), x[0], [m, n]);
      }
      case 'BatchMatMul':
      case 'BatchMatMulV2': {
        const swapLast = (v: Value, flag: string, what: string): { name: string; shape: (number | null)[] } => {
          const r = this.rank(node, v, what);
          if (!attrBool(node, flag)) return { name: v.name, shape: v.shape! };
          const perm = [...Array(r - 2).keys(), r - 1, r - 2];
          return { name: g.op('Transpose', [v.name], { perm: attr.ints(perm) }, `${name}/${what}_t`), shape: perm.map((p) => v.shape![p]) };
        };
        const a = swapLast(x[0], 'adj_x', 'x');
        const b = swapLast(x[1], 'adj_y', 'y');
        const batch = broadcast({ ...x[0], shape: a.shape.slice(0, -2) }, { ...x[1], shape: b.shape.slice(0, -2) })!;
        return same(g.op('MatMul', [a.name, b.name], {}, name), x[0], [...batch, a.shape[a.shape.length - 2], b.shape[b.shape.length - 1]]);
      }
      case 'Conv2D':
        return [this.conv2d1x1(node, x)];
      case 'SplitV': {
        const [input, sizes, axisV] = x;
        const r = this.rank(node, input);
        const axisRaw = this.known(node, axisV, 'axis')[0];
        const axis = axisRaw < 0 ? axisRaw + r : axisRaw;
        const split = [...this.known(node, sizes, 'size_splits')];
        const neg = split.indexOf(-1);
        if (neg >= 0) {
          const total = input.shape![axis];
          if (total == null) this.fail(node, 'a -1 split size needs a static dimension');
          split[neg] = total - split.reduce((s, v, i) => (i === neg ? s : s + v), 0);
        }
        const outs = g.node('Split', [input.name, this.i64(`${name}/split`, split)], { axis: attr.int(axis) }, name, split.length);
        return outs.map((o, i) => {
          const shape = [...input.shape!];
          shape[axis] = split[i];
          return { name: o, type: input.type, shape };
        });
      }
      case 'Slice': {
        // TF Slice(x, begin, size): size -1 means "to the end".
        const [input, begin, size] = x;
        const r = this.rank(node, input);
        const begin64 = this.asInt64(begin);
        const size64 = this.asInt64(size);
        const isAll = g.op('Equal', [size64, this.i64(`${name}/minus1`, [-1])], {}, `${name}/to_end`);
        const end = g.op('Where', [isAll, this.i64(`${name}/max`, [TO_END]), g.op('Add', [begin64, size64], {}, `${name}/end_raw`)], {}, `${name}/end`);
        const axes = this.i64(`${name}/axes`, [...Array(r).keys()]);
        const shape = size.known ? size.known.map((s, i) => (s >= 0 ? s : null)) : new Array(r).fill(null);
        return same(g.op('Slice', [input.name, begin64, end, axes], {}, name), input, shape);
      }
      case 'StridedSlice':
        return [this.stridedSlice(node, x)];
      default:
        this.fail(node, 'this op is not supported by the converter');
    }
  }

  private constNode(node: TfNode): Value {
    const type = tfType(node, 'dtype');
    const w = this.model.weights.get(node.name);
    const dims = (node.attr?.value?.tensor?.tensorShape?.dim ?? []).map((d) => Number(d.size));
    if (!w) this.fail(node, 'its value is not in the weights manifest');
    if (w.values.length !== dims.reduce((a, b) => a * b, 1)) this.fail(node, `the manifest holds ${w.values.length} values for shape [${dims}]`);
    // TF.js stores int64 constants as int32; widen them back.
    const t =
      type === 'int64'
        ? tensor('int64', dims, Array.from(w.values as Int32Array))
        : type === 'int32'
          ? { type, dims, values: w.values as Int32Array }
          : type === 'bool'
            ? { type, dims, values: w.values as Uint8Array }
            : { type, dims, values: w.values as Float32Array };
    return this.const(node.name, t as TensorConst);
  }

  private reduce(node: TfNode, x: Value[]): Value {
    const g = this.g;
    const [input, axesV] = x;
    const r = this.rank(node, input);
    const axes = this.known(node, axesV, 'reduction axes').map((a) => (a < 0 ? a + r : a));
    const keep = attrBool(node, 'keep_dims');
    const shape = keep ? input.shape!.map((d, i) => (axes.includes(i) ? 1 : d)) : input.shape!.filter((_, i) => !axes.includes(i));
    const keepdims = attr.int(keep ? 1 : 0);
    const op = { Sum: 'ReduceSum', Max: 'ReduceMax', Mean: 'ReduceMean', Prod: 'ReduceProd' }[node.op as 'Sum']!;
    // Opset 17: ReduceSum takes axes as an input; the others still as an attribute.
    const out =
      op === 'ReduceSum'
        ? g.op(op, [input.name, this.i64(`${node.name}/axes`, axes)], { keepdims }, node.name)
        : g.op(op, [input.name], { axes: attr.ints(axes), keepdims }, node.name);
    return { name: out, type: input.type, shape };
  }

  /** Conv2D with a 1x1 kernel, unit strides and dilations in NHWC: a matrix product over channels. */
  private conv2d1x1(node: TfNode, x: Value[]): Value {
    const [input, kernel] = x;
    const w = this.model.weights.get(this.constSource(node, 1));
    const fmt = attrString(node, 'data_format');
    if (fmt && fmt !== 'NHWC') this.fail(node, `data_format ${fmt} is not supported`);
    const strides = attrInts(node, 'strides');
    const dilations = attrInts(node, 'dilations');
    if (!kernel.shape || kernel.shape[0] !== 1 || kernel.shape[1] !== 1 || !w) this.fail(node, 'only constant 1x1 kernels are supported');
    if (strides.some((s) => s !== 1) || dilations.some((d) => d !== 1)) this.fail(node, 'only unit strides and dilations are supported');
    const cin = kernel.shape[2] as number;
    const cout = kernel.shape[3] as number;
    const matrix = this.g.constant(`${node.name}/kernel2d`, { type: 'float32', dims: [cin, cout], values: w.values as Float32Array });
    const shape = input.shape ? [...input.shape.slice(0, -1), cout] : null;
    return { name: this.g.op('MatMul', [input.name, matrix], {}, node.name), type: 'float32', shape };
  }

  private constSource(node: TfNode, index: number): string {
    return (node.input ?? []).filter((r) => !r.startsWith('^'))[index].replace(/:\d+$/, '');
  }

  private stridedSlice(node: TfNode, x: Value[]): Value {
    const g = this.g;
    const [input, beginV, endV, stridesV] = x;
    const begin = this.known(node, beginV, 'begin');
    const end = this.known(node, endV, 'end');
    const strides = this.known(node, stridesV, 'strides');
    const beginMask = attrInt(node, 'begin_mask', 0);
    const endMask = attrInt(node, 'end_mask', 0);
    const shrinkMask = attrInt(node, 'shrink_axis_mask', 0);
    if (attrInt(node, 'ellipsis_mask', 0) || attrInt(node, 'new_axis_mask', 0)) this.fail(node, 'ellipsis and new-axis masks are not supported');
    const r = this.rank(node, input);
    const starts: number[] = [];
    const ends: number[] = [];
    const axes: number[] = [];
    const steps: number[] = [];
    const squeeze: number[] = [];
    const shape: (number | null)[] = [];
    const BIG = TO_END;
    for (let i = 0; i < r; i++) {
      if (i >= begin.length) {
        shape.push(input.shape![i]);
        continue;
      }
      const step = strides[i];
      let s = beginMask & (1 << i) ? (step > 0 ? 0 : -1) : begin[i];
      let e = endMask & (1 << i) ? (step > 0 ? BIG : -BIG) : end[i];
      if (shrinkMask & (1 << i)) {
        e = s === -1 ? BIG : s + 1;
        squeeze.push(i);
      }
      if (s === -1 && step < 0 && beginMask & (1 << i)) s = -1;
      starts.push(s);
      ends.push(e);
      axes.push(i);
      steps.push(step);
      if (shrinkMask & (1 << i)) continue;
      const dim = input.shape![i];
      if (dim == null) shape.push(null);
      else {
        const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
        const len = step > 0 ? Math.max(0, Math.ceil((clamp(e) - clamp(s)) / step)) : null;
        shape.push(len);
      }
    }
    let out = g.op(
      'Slice',
      [input.name, this.i64(`${node.name}/starts`, starts), this.i64(`${node.name}/ends`, ends), this.i64(`${node.name}/axes`, axes), this.i64(`${node.name}/steps`, steps)],
      {},
      squeeze.length ? `${node.name}/slice` : node.name,
    );
    if (squeeze.length) out = g.op('Squeeze', [out, this.i64(`${node.name}/squeeze_axes`, squeeze)], {}, node.name);
    // Fold slices of known 1-D values (shape bookkeeping) so later Reshapes see static targets.
    let known: number[] | undefined;
    if (input.known && r === 1 && steps[0] === 1) {
      const n = input.known.length;
      const s0 = starts[0] < 0 ? starts[0] + n : starts[0];
      const e0 = Math.min(ends[0] < 0 ? ends[0] + n : ends[0], n);
      known = input.known.slice(s0, e0);
    }
    return { name: out, type: input.type, shape, known };
  }
}

export type { Attr };
