/**
 * `semrec demo`: a short tour of the native engine on a planted-factor dataset: score users against
 * items without materialising the matrix, rank with training items excluded, and measure the ranking,
 * on the CPU (and the GPU when one is usable), with the TypeScript reference for comparison.
 */
import type { Command } from 'commander';

import { rankingMetrics } from '../../kernels/metrics';
import { rankingMetricsReference } from '../../kernels/reference';
import { scoreMatrix, scoreTopK } from '../../kernels/score';
import { deviceInfo } from '../../native/device';
import { csrFromLists } from '../../util/csr';
import { Random } from '../../util/random';

interface DemoOptions {
  users: string;
  items: string;
  dim: string;
  seed: string;
}

/** Latent dimension of the planted "true" preferences. */
const TRUE_DIM = 16;
/** Items per user drawn (without replacement) from the user's best 200 true items. */
const TRAIN_PER_USER = 20;
const TEST_PER_USER = 5;
const CANDIDATE_POOL = 200;

function gaussianMatrix(rng: Random, rows: number, cols: number, scale: number): Float32Array {
  const m = new Float32Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = rng.normal() * scale;
  return m;
}

function ms(start: bigint): string {
  return `${(Number(process.hrtime.bigint() - start) / 1e6).toFixed(1)} ms`;
}

export async function runDemo(numUsers: number, numItems: number, dim: number, seed: number): Promise<void> {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const info = deviceInfo();
  out('semrec engine demo');
  out(
    `  native: ${info.numThreads} CPU threads, CUDA ${info.cudaCompiled ? 'compiled' : 'not compiled'}, ` +
      (info.cudaAvailable ? `GPU ${info.gpus[0].name}` : `no GPU (${info.reason})`),
  );

  const rng = new Random(seed);
  const trueUsers = gaussianMatrix(rng, numUsers, TRUE_DIM, 1);
  const trueItems = gaussianMatrix(rng, numItems, TRUE_DIM, 1);
  // Each user's best true items; training and test interactions are drawn from them, disjointly.
  const pool = await scoreTopK({ users: trueUsers, items: trueItems, dim: TRUE_DIM, k: CANDIDATE_POOL });
  const train: number[][] = [];
  const test: number[][] = [];
  for (let u = 0; u < numUsers; u++) {
    const candidates = Array.from(pool.indices.subarray(u * CANDIDATE_POOL, (u + 1) * CANDIDATE_POOL));
    rng.shuffle(candidates);
    train.push(candidates.slice(0, TRAIN_PER_USER));
    test.push(candidates.slice(TRAIN_PER_USER, TRAIN_PER_USER + TEST_PER_USER));
  }
  const exclude = csrFromLists(train);
  const truth = csrFromLists(test);
  out(`  data: ${numUsers} users x ${numItems} items, ${TRAIN_PER_USER} training + ${TEST_PER_USER} test interactions each`);

  // A "model": the true factors seen through noise, padded to `dim` with noise dimensions.
  const noisy = (m: Float32Array, rows: number) => {
    const e = gaussianMatrix(rng, rows, dim, 0.7);
    for (let r = 0; r < rows; r++) for (let t = 0; t < TRUE_DIM && t < dim; t++) e[r * dim + t] += m[r * TRUE_DIM + t];
    return e;
  };
  const users = noisy(trueUsers, numUsers);
  const items = noisy(trueItems, numItems);

  let start = process.hrtime.bigint();
  const top = await scoreTopK({ users, items, dim, k: 10, exclude });
  out(`\nscoreTopK (${top.device}): top-10 of ${numUsers} x ${numItems} scores, dim ${dim}, training items excluded: ${ms(start)}`);
  out(`  user 0 gets items [${Array.from(top.indices.subarray(0, 10)).join(', ')}]`);
  out(`  user 0 held out   [${test[0].join(', ')}]`);

  start = process.hrtime.bigint();
  const dense = await scoreMatrix({ users, items, dim });
  out(`scoreMatrix (${dense.device}): ${ms(start)}`);
  start = process.hrtime.bigint();
  const metrics = await rankingMetrics({ scores: dense.scores, numUsers, numItems, truth, exclude, ks: [10, 20] });
  out(`rankingMetrics (${metrics.device}): full ranking of every user: ${ms(start)}`);
  const m = metrics.mean;
  out(`  model : ndcg@10 ${m['ndcg@10'].toFixed(4)}  recall@20 ${m['recall@20'].toFixed(4)}  mrr ${m.mrr.toFixed(4)}  coverage@10 ${m['coverage@10'].toFixed(3)}`);

  const random = gaussianMatrix(rng, numUsers, numItems, 1);
  const baseline = await rankingMetrics({ scores: random, numUsers, numItems, truth, exclude, ks: [10, 20] });
  const b = baseline.mean;
  out(`  random: ndcg@10 ${b['ndcg@10'].toFixed(4)}  recall@20 ${b['recall@20'].toFixed(4)}  mrr ${b.mrr.toFixed(4)}  coverage@10 ${b['coverage@10'].toFixed(3)}`);

  const sampleUsers = Math.min(numUsers, 500);
  start = process.hrtime.bigint();
  const reference = rankingMetricsReference({
    scores: dense.scores.subarray(0, sampleUsers * numItems),
    numUsers: sampleUsers,
    numItems,
    truth: csrFromLists(test.slice(0, sampleUsers)),
    exclude: csrFromLists(train.slice(0, sampleUsers)),
    ks: [10, 20],
  });
  const referenceMs = Number(process.hrtime.bigint() - start) / 1e6;
  out(
    `\nTypeScript reference on the first ${sampleUsers} users: ${referenceMs.toFixed(1)} ms ` +
      `(~${((referenceMs * numUsers) / sampleUsers / 1000).toFixed(1)} s for all); ` +
      `ndcg@10 there ${reference.mean['ndcg@10'].toFixed(4)} vs native ${mean(metrics.perUser['ndcg@10'], sampleUsers).toFixed(4)}`,
  );
  out('\nNext: `npm test` runs the test suite; `npm run bench` the benchmarks (see README).');
}

function mean(values: Float32Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i];
  return s / n;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('a short tour of the native engine on a planted-factor dataset')
    .option('--users <n>', 'users', '20000')
    .option('--items <n>', 'items', '5000')
    .option('--dim <n>', 'embedding dimension', '64')
    .option('--seed <n>', 'random seed', '42')
    .action(async (options: DemoOptions) => {
      await runDemo(Number(options.users), Number(options.items), Number(options.dim), Number(options.seed));
    });
}
