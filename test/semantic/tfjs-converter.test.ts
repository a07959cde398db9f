/**
 * The TensorFlow.js -> ONNX converter op by op, on small hand-made graphs with hand-computed results
 * (the whole USE-lite graph is checked against its reference in encoder.test.ts).
 */
import assert from 'node:assert/strict';

import * as ort from 'onnxruntime-node';

import { isSemrecError } from '../../ts/errors';
import { GraphBuilder } from '../../ts/semantic/onnx/graph';
import { convertTfjsGraph, type TfjsModel, type TfNode } from '../../ts/semantic/onnx/tfjs';

type Weights = TfjsModel['weights'];

function constNode(name: string, dtype: number, shape: number[]): TfNode {
  return { name, op: 'Const', attr: { dtype: { type: dtype }, value: { tensor: { dtype, tensorShape: { dim: shape.map((size) => ({ size: String(size) })) } } } } };
}

function int32(weights: Weights, name: string, shape: number[], values: number[]): TfNode {
  weights.set(name, { dtype: 'int32', shape, values: Int32Array.from(values) });
  return constNode(name, 3, shape);
}

function float32(weights: Weights, name: string, shape: number[], values: number[]): TfNode {
  weights.set(name, { dtype: 'float32', shape, values: Float32Array.from(values) });
  return constNode(name, 1, shape);
}

/** Converts `nodes` with one float32 input `x` of `shape`, runs it on `input`, returns output values. */
async function run(nodes: TfNode[], weights: Weights, output: string, shape: number[], input: number[]): Promise<{ data: number[]; dims: readonly number[] }> {
  const g = new GraphBuilder('test');
  const x = g.input('x', 'float32', shape);
  const [out] = convertTfjsGraph({ nodes: [{ name: 'x', op: 'Placeholder' }, ...nodes], weights }, g, { inputs: { x: { name: x, type: 'float32', shape } }, outputs: [output] });
  g.output(out.name, out.type, (out.shape ?? []).map((d, i) => d ?? `d${i}`), 'y');
  const session = await ort.InferenceSession.create(g.serialize());
  const result = await session.run({ x: new ort.Tensor('float32', Float32Array.from(input), shape) });
  await session.release();
  return { data: Array.from(result.y.data as Float32Array), dims: result.y.dims };
}

describe('semantic/onnx/tfjs converter', () => {
  it('StridedSlice honours begin, end and shrink-axis masks', async () => {
    const w: Weights = new Map();
    // x[1:, 2] on a 3x4 matrix: begin_mask none, end_mask on axis 0, shrink axis 1.
    const nodes = [
      int32(w, 'b', [2], [1, 2]),
      int32(w, 'e', [2], [0, 3]),
      int32(w, 's', [2], [1, 1]),
      { name: 'y', op: 'StridedSlice', input: ['x', 'b', 'e', 's'], attr: { begin_mask: { i: '0' }, end_mask: { i: '1' }, shrink_axis_mask: { i: '2' } } },
    ];
    const r = await run(nodes, w, 'y', [3, 4], [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
    assert.deepEqual(r.dims, [2]);
    assert.deepEqual(r.data, [12, 22]);
  });

  it('ScatterNd adds updates that hit the same index, as TensorFlow does', async () => {
    const w: Weights = new Map();
    const nodes = [
      int32(w, 'idx', [3, 1], [1, 3, 1]),
      int32(w, 'shape', [1], [5]),
      { name: 'y', op: 'ScatterNd', input: ['idx', 'x', 'shape'] },
    ];
    const r = await run(nodes, w, 'y', [3], [1, 2, 4]);
    assert.deepEqual(r.data, [0, 5, 0, 2, 0]);
  });

  it('BatchMatMul with adj_y, SplitV with a -1 size, and Pack', async () => {
    const w: Weights = new Map();
    const nodes = [
      int32(w, 'sizes', [2], [1, -1]),
      int32(w, 'axis', [], [1]),
      { name: 'split', op: 'SplitV', input: ['x', 'sizes', 'axis'], attr: { num_split: { i: '2' } } },
      // x is [2, 3]: split:0 is column 0 ([2, 1]), split:1 columns 1-2 ([2, 2]).
      float32(w, 'm', [2, 2], [1, 2, 3, 4]),
      { name: 'mm', op: 'BatchMatMul', input: ['split:1', 'm'], attr: { adj_x: { b: false }, adj_y: { b: true } } },
      { name: 'y', op: 'Pack', input: ['mm', 'mm'], attr: { axis: { i: '0' }, N: { i: '2' } } },
    ];
    // rows [1 2], [4 5] times m^T = [[1 3],[2 4]] -> [5 11], [14 32]
    const r = await run(nodes, w, 'y', [2, 3], [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(r.dims, [2, 2, 2]);
    assert.deepEqual(r.data, [5, 11, 14, 32, 5, 11, 14, 32]);
  });

  it('names the node and op it cannot convert', () => {
    const g = new GraphBuilder('test');
    const x = g.input('x', 'float32', [2]);
    assert.throws(
      () => convertTfjsGraph({ nodes: [{ name: 'x', op: 'Placeholder' }, { name: 'weird', op: 'Cumprod', input: ['x'] }], weights: new Map() }, g, { inputs: { x: { name: x, type: 'float32', shape: [2] } }, outputs: ['weird'] }),
      (e: unknown) => isSemrecError(e, 'ERR_MODEL_FORMAT') && /weird \(Cumprod\)/.test((e as Error).message),
    );
  });
});
