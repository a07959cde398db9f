import assert from 'node:assert/strict';

import * as semrec from '../../ts';
import { NativeErrorCodes, SemrecError } from '../../ts/errors';
import { addon } from '../../ts/native/addon';
import { freshSeed, Random } from '../helpers/random';

// Malformed calls, each through one of four doors: the public sync and async functions (checked in
// TypeScript first) and the raw addon's sync and async entry points (native checks alone). Every call
// must fail with a coded SemrecError whose message names the argument, and the process must live on.
const CALLS = 10_000;

type Args = Record<string, unknown>;
interface Mutation {
  args: Args;
  /** Fields the error message may name. */
  names: string[];
}
type OpName = 'topK' | 'scoreTopK' | 'scoreMatrix' | 'rankingMetrics' | 'rankingMetricsFromTopK';

function csrOf(rng: Random, rows: number, cols: number) {
  const indptr = new Int32Array(rows + 1);
  const indices: number[] = [];
  for (let r = 0; r < rows; r++) {
    const n = cols > 0 ? rng.int(0, Math.min(3, cols)) : 0;
    for (let i = 0; i < n; i++) indices.push(rng.int(0, cols - 1));
    indptr[r + 1] = indices.length;
  }
  return { indptr, indices: Int32Array.from(indices) };
}

function valid(op: OpName, rng: Random): { args: Args; rows: number; cols: number } {
  const rows = rng.int(1, 6);
  const cols = rng.int(2, 12);
  const floats = (n: number) => Float32Array.from({ length: n }, () => rng.float());
  switch (op) {
    case 'topK':
      return { rows, cols, args: { scores: floats(rows * cols), numRows: rows, numCols: cols, k: rng.int(1, cols), exclude: csrOf(rng, rows, cols), device: 'cpu' } };
    case 'scoreTopK':
    case 'scoreMatrix': {
      const dim = rng.int(1, 4);
      const args: Args = { users: floats(rows * dim), items: floats(cols * dim), dim, itemBias: floats(cols), device: 'cpu' };
      if (op === 'scoreTopK') Object.assign(args, { k: rng.int(1, cols), exclude: csrOf(rng, rows, cols) });
      return { rows, cols, args };
    }
    case 'rankingMetrics':
      return { rows, cols, args: { scores: floats(rows * cols), numUsers: rows, numItems: cols, truth: csrOf(rng, rows, cols), exclude: csrOf(rng, rows, cols), ks: [1, rng.int(1, 5)], device: 'cpu' } };
    case 'rankingMetricsFromTopK': {
      const k = rng.int(1, cols);
      const indices = new Int32Array(rows * k);
      for (let r = 0; r < rows; r++) {
        const perm = rng.shuffle(Array.from({ length: cols }, (_, i) => i)) as number[];
        for (let p = 0; p < k; p++) indices[r * k + p] = perm[p];
      }
      return { rows, cols, args: { indices, k, numUsers: rows, numItems: cols, truth: csrOf(rng, rows, cols), ks: [k] } };
    }
  }
}

const TYPED_FIELDS: Record<OpName, [string, 'f32' | 'i32'][]> = {
  topK: [['scores', 'f32']],
  scoreTopK: [['users', 'f32'], ['items', 'f32'], ['itemBias', 'f32']],
  scoreMatrix: [['users', 'f32'], ['items', 'f32'], ['itemBias', 'f32']],
  rankingMetrics: [['scores', 'f32']],
  rankingMetricsFromTopK: [['indices', 'i32']],
};
const INT_FIELDS: Record<OpName, [string, number][]> = {
  topK: [['numRows', 0], ['numCols', 0], ['k', 1]],
  scoreTopK: [['dim', 1], ['k', 1]],
  scoreMatrix: [['dim', 1]],
  rankingMetrics: [['numUsers', 0], ['numItems', 0]],
  rankingMetricsFromTopK: [['numUsers', 0], ['numItems', 0], ['k', 1]],
};
const CSR_FIELDS: Record<OpName, string[]> = {
  topK: ['exclude'],
  scoreTopK: ['exclude'],
  scoreMatrix: [],
  rankingMetrics: ['truth', 'exclude'],
  rankingMetricsFromTopK: ['truth', 'exclude'],
};

function mutate(op: OpName, rng: Random): Mutation {
  const { args, rows, cols } = valid(op, rng);
  const pick = <T>(xs: T[]): T => xs[rng.int(0, xs.length - 1)];
  const kinds = ['typed', 'integer', 'options', ...(op === 'rankingMetricsFromTopK' ? [] : ['device']), ...(CSR_FIELDS[op].length ? ['csr'] : []), ...(op === 'topK' || op === 'rankingMetrics' ? ['nan'] : []),
    ...(op.startsWith('score') ? ['nonFinite'] : []), ...(op.startsWith('ranking') ? ['ks'] : []), ...(op === 'rankingMetricsFromTopK' ? ['list'] : [])];
  const kind = pick(kinds);
  switch (kind) {
    case 'typed': {
      const [field, type] = pick(TYPED_FIELDS[op]);
      const current = args[field] as Float32Array | Int32Array;
      const wrongType = type === 'f32' ? new Float64Array(current.length) : new Float32Array(current.length);
      const wrongLength = type === 'f32' ? new Float32Array(current.length + pick([1, -1, 7])) : new Int32Array(current.length + pick([1, -1, 3]));
      const candidates: unknown[] = [3, 'x', [1, 2], {}, wrongType, new Uint8Array(current.length)];
      // With dim 1 any users length is valid (it only changes the number of users).
      if (!(field === 'users' && args.dim === 1)) candidates.push(wrongLength);
      if (field !== 'itemBias') candidates.push(undefined, null);
      args[field] = pick(candidates);
      const names = [field];
      if (field === 'users' || field === 'items') names.push('dim', 'itemBias', 'exclude');
      return { args, names };
    }
    case 'integer': {
      const [field, min] = pick(INT_FIELDS[op]);
      args[field] = pick([min - 1, -5, 1.5, NaN, Infinity, -Infinity, '3', 2 ** 31, 2 ** 53, null, undefined, {}, true]);
      // A changed count makes a dependent array's length wrong: the message may name that array.
      return { args, names: [field, 'scores', 'indices', 'users', 'items', 'exclude', 'truth'] };
    }
    case 'device':
      args.device = pick(['gpu', 'CUDA', 'cpu ', '', 5, {}, true]);
      return { args, names: ['device'] };
    case 'options':
      return { args: pick<unknown>([undefined, null, 42, 'topK', [args], new Float32Array(4)]) as Args, names: ['options'] };
    case 'csr': {
      const field = pick(CSR_FIELDS[op]);
      const csr = csrOf(rng, rows, cols);
      const variant = rng.int(0, 8);
      let value: unknown = csr;
      if (variant === 0) value = pick([5, 'csr', [1, 2], new Int32Array(3)]);
      else if (variant === 1) value = { indptr: csr.indptr, indices: Array.from(csr.indices) };
      else if (variant === 2) value = { indptr: new Int32Array(rows + pick([0, 2])), indices: csr.indices };
      else if (variant === 3) value = { indptr: csr.indptr.map((v, i) => (i === 0 ? 1 : v + 1)), indices: csr.indices };
      else if (variant === 4) {
        const indptr = Int32Array.from(csr.indptr);
        indptr[rows] = csr.indices.length + 1;
        value = { indptr, indices: csr.indices };
      } else if (variant === 5 && rows >= 2) {
        const indptr = Int32Array.from(csr.indptr);
        indptr[1] = indptr[2] + 1; // decreasing between rows 1 and 2, last entry still nnz
        value = { indptr, indices: csr.indices };
      } else {
        const indices = Int32Array.from([...csr.indices, pick([-1, cols, 2 ** 31 - 1])]);
        const indptr = Int32Array.from(csr.indptr);
        indptr[rows] = indices.length;
        value = { indptr, indices };
      }
      args[field] = field === 'truth' && variant === 0 && rng.int(0, 1) ? undefined : value;
      return { args, names: [field] };
    }
    case 'nan': {
      const scores = args.scores as Float32Array;
      scores[rng.int(0, scores.length - 1)] = NaN;
      return { args, names: ['scores'] };
    }
    case 'nonFinite': {
      const field = pick(['users', 'items', 'itemBias']);
      const a = args[field] as Float32Array;
      a[rng.int(0, a.length - 1)] = pick([NaN, Infinity, -Infinity]);
      return { args, names: [field] };
    }
    case 'ks':
      args.ks = pick([[], [0], [1.5], 'x', [NaN], ['5'], [-3], new Array(5000).fill(1), 10, null]);
      return { args, names: ['ks'] };
    default: {
      const indices = Int32Array.from(args.indices as Int32Array);
      const k = args.k as number;
      const row = rng.int(0, rows - 1) * k;
      if (k >= 2 && rng.int(0, 1)) {
        indices[row + 1] = indices[row]; // a repeated item
      } else if (k >= 2) {
        indices[row] = -1; // padding before an item
      } else {
        indices[row] = pick([-2, cols, 2 ** 31 - 1]);
      }
      args.indices = indices;
      return { args, names: ['indices', 'topK.indices'] };
    }
  }
}

const KNOWN_CODES = new Set<string>(NativeErrorCodes);

function checkError(error: unknown, names: string[], what: string): void {
  assert.ok(error instanceof SemrecError, `${what}: not a SemrecError: ${String(error)}`);
  assert.ok(KNOWN_CODES.has(error.code), `${what}: unknown code ${error.code}`);
  if (!names.includes('options')) {
    assert.ok(names.some((n) => error.message.includes(n)), `${what}: message names none of ${names.join(', ')}: ${error.message}`);
  }
}

describe('fuzz: malformed calls', function () {
  it(`${CALLS} malformed calls through the public API and the raw addon all fail with coded errors`, async () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    const ops: OpName[] = ['topK', 'scoreTopK', 'scoreMatrix', 'rankingMetrics', 'rankingMetricsFromTopK'];
    const raw = addon() as unknown as Record<string, (a: unknown) => unknown>;
    const api = semrec as unknown as Record<string, (a: unknown) => unknown>;
    const codes = new Map<string, number>();
    for (let call = 0; call < CALLS; call++) {
      const op = ops[call % ops.length];
      const { args, names } = mutate(op, rng);
      const door = rng.int(0, 3);
      const what = `seed ${seed}, call ${call}, ${op} via ${['api sync', 'api async', 'raw sync', 'raw async'][door]}`;
      let error: unknown;
      try {
        if (door === 0) api[`${op}Sync`](args);
        else if (door === 1) await api[op](args);
        else if (door === 2) raw[`${op}Sync`](args);
        else await raw[op](args);
      } catch (e) {
        error = e;
      }
      assert.ok(error !== undefined, `${what}: accepted ${JSON.stringify(args, (_k, v) => (ArrayBuffer.isView(v) ? `${v.constructor.name}(${(v as Float32Array).length})` : v))}`);
      checkError(error, names, what);
      const code = (error as SemrecError).code;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    // The mix of failures exercised: every argument-error code appears.
    for (const code of ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE', 'ERR_NAN_INPUT']) {
      assert.ok((codes.get(code) ?? 0) > 50, `seed ${seed}: too few ${code} (${codes.get(code) ?? 0})`);
    }
  });
});
