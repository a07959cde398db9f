/**
 * Kernel benchmarks: each op as the readable TypeScript reference, the native CPU op and the CUDA op
 * (when a GPU is usable), side by side on the same inputs, plus the memory-bandwidth floor (one native
 * read of the same score matrix). Ratios come from one run, so machine noise hits all of them alike.
 */
import { rankingMetricsSync, scoreTopKSync, topKSync } from '../ts';
import { rankingMetricsReference, scoreMatrixReference, topKReference } from '../ts/kernels/reference';
import type { Csr } from '../ts/kernels/types';
import { addon } from '../ts/native/addon';
import { deviceInfo, setNumThreads } from '../ts/native/device';
import { Random } from '../ts/util/random';
import { type BenchContext, measure, type Measurement, type Suite } from './harness';

/** Training items excluded per user and held-out items per user: a typical leave-out evaluation. */
const EXCLUDED_PER_USER = 20;
const TRUTH_PER_USER = 5;
/** The TypeScript reference is only run where one call takes seconds, not hours. */
const REFERENCE_MAX_CELLS = 10_000 * 5_000;

function randomScores(rng: Random, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.float();
  return a;
}

function randomRows(rng: Random, rows: number, cols: number, perRow: number): Csr {
  const indptr = new Int32Array(rows + 1);
  const indices = new Int32Array(rows * perRow);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < perRow; i++) indices[r * perRow + i] = rng.int(0, cols - 1);
    indptr[r + 1] = (r + 1) * perRow;
  }
  return { indptr, indices };
}

interface Row {
  op: string;
  size: Record<string, number>;
  impl: 'ts-reference' | 'native-cpu' | 'cuda' | 'read-floor' | 'read-floor-1-thread';
  measurement: Measurement;
}

/** Ratios between the implementations of one op at one size (all measured in the same run). */
function speedups(rows: Row[]) {
  const out: Record<string, Record<string, number>> = {};
  const sizeKey = (r: Row) => JSON.stringify(r.size);
  for (const cpu of rows.filter((r) => r.impl === 'native-cpu')) {
    const same = (op: string, impl: Row['impl']) =>
      rows.find((r) => r.op === op && r.impl === impl && sizeKey(r) === sizeKey(cpu))?.measurement.medianMs;
    const ratios: Record<string, number> = {};
    const reference = same(cpu.op, 'ts-reference');
    const cuda = same(cpu.op, 'cuda');
    const floors = [same('readFloor', 'read-floor'), same('readFloor', 'read-floor-1-thread')].filter((f) => f !== undefined);
    const floor = floors.length ? Math.min(...floors) : undefined;
    if (reference) ratios.nativeCpuSpeedupOverReference = reference / cpu.measurement.medianMs;
    if (floor) ratios.nativeCpuTimeOverReadFloor = cpu.measurement.medianMs / floor;
    if (cuda) ratios.cudaSpeedupOverNativeCpu = cpu.measurement.medianMs / cuda;
    out[`${cpu.op} ${sizeKey(cpu)}`] = ratios;
  }
  return out;
}

async function run(context: BenchContext): Promise<Record<string, unknown>> {
  const gpu = deviceInfo().cudaAvailable;
  const rng = new Random(20261122);
  const rows: Row[] = [];
  const record = (op: string, size: Record<string, number>, impl: Row['impl'], fn: () => unknown, minSamples: number) => {
    const measurement = measure(`${op} ${impl}`, fn, { minSamples });
    rows.push({ op, size, impl, measurement });
    context.log(
      `${op.padEnd(15)} ${JSON.stringify(size).padEnd(44)} ${impl.padEnd(13)} ` +
        `${measurement.medianMs.toFixed(2).padStart(11)} ms  (±${measurement.rmePercent.toFixed(1)}%, n=${measurement.samples})`,
    );
  };

  const rankSizes = context.quick ? [[1_000, 1_000]] : [[1_000, 1_000], [10_000, 5_000], [100_000, 10_000]];
  for (const [numUsers, numItems] of rankSizes) {
    const scores = randomScores(rng, numUsers * numItems);
    const exclude = randomRows(rng, numUsers, numItems, EXCLUDED_PER_USER);
    const truth = randomRows(rng, numUsers, numItems, TRUTH_PER_USER);
    const size = { users: numUsers, items: numItems, k: 10 };
    const withReference = numUsers * numItems <= REFERENCE_MAX_CELLS;
    const samples = withReference ? 5 : 2;

    // The floor: any op that must look at every score once cannot beat one plain read of them. Measured
    // with one thread and with the default count; the faster counts (on some VMs one thread reads faster).
    const threads = deviceInfo().numThreads;
    setNumThreads(1);
    record('readFloor', size, 'read-floor-1-thread', () => addon().readOnlyPassSync({ data: scores }), samples);
    setNumThreads(threads);
    record('readFloor', size, 'read-floor', () => addon().readOnlyPassSync({ data: scores }), samples);
    const metricsArgs = { scores, numUsers, numItems, truth, exclude, ks: [10] };
    record('rankingMetrics', size, 'native-cpu', () => rankingMetricsSync({ ...metricsArgs, device: 'cpu' }), samples);
    if (gpu) record('rankingMetrics', size, 'cuda', () => rankingMetricsSync({ ...metricsArgs, device: 'cuda' }), samples);
    if (withReference) record('rankingMetrics', size, 'ts-reference', () => rankingMetricsReference(metricsArgs), 2);

    const topKArgs = { scores, numRows: numUsers, numCols: numItems, k: 10, exclude };
    record('topK', size, 'native-cpu', () => topKSync({ ...topKArgs, device: 'cpu' }), samples);
    if (gpu) record('topK', size, 'cuda', () => topKSync({ ...topKArgs, device: 'cuda' }), samples);
    if (withReference) record('topK', size, 'ts-reference', () => topKReference(topKArgs), 2);
  }

  const scoreSizes = context.quick
    ? [[500, 2_000, 64]]
    : [[2_000, 10_000, 64], [20_000, 10_000, 64], [20_000, 10_000, 256], [20_000, 10_000, 768]];
  for (const [numUsers, numItems, dim] of scoreSizes) {
    const users = randomScores(rng, numUsers * dim);
    const items = randomScores(rng, numItems * dim);
    const exclude = randomRows(rng, numUsers, numItems, EXCLUDED_PER_USER);
    const size = { users: numUsers, items: numItems, dim, k: 10 };
    const args = { users, items, dim, k: 10, exclude };
    const samples = dim >= 256 ? 2 : 3;
    record('scoreTopK', size, 'native-cpu', () => scoreTopKSync({ ...args, device: 'cpu' }), samples);
    if (gpu) record('scoreTopK', size, 'cuda', () => scoreTopKSync({ ...args, device: 'cuda' }), samples);
    if (numUsers * numItems * dim <= 2_000 * 10_000 * 64) {
      const reference = () =>
        topKReference({ scores: scoreMatrixReference({ users, items, dim }), numRows: numUsers, numCols: numItems, k: 10, exclude });
      record('scoreTopK', size, 'ts-reference', reference, 1);
    }
  }

  const throughput = rows.map((r) => {
    const cells = r.size.users * r.size.items;
    return r.op === 'scoreTopK'
      ? { op: r.op, impl: r.impl, size: r.size, gflopPerSecond: (2 * cells * r.size.dim) / (r.measurement.medianMs * 1e6) }
      : { op: r.op, impl: r.impl, size: r.size, scoreGbPerSecond: (cells * 4) / (r.measurement.medianMs * 1e6) };
  });
  return { results: rows, speedups: speedups(rows), throughput };
}

export const kernelSuite: Suite = {
  name: 'kernels',
  description: 'topK, scoreTopK and rankingMetrics: TS reference vs native CPU vs CUDA, and the read-only floor',
  run,
};
