/**
 * semrec side by side with RecBole (the peer, run through ../shared/anchors/run_recbole.py): seconds per
 * training epoch and test ndcg@10 of bpr, lightgcn and neumf on MovieLens-100K and on the generated
 * 100k x 20k set, both sides on the same split files, 2 threads each, runs alternating (RecBole, semrec,
 * RecBole, semrec, ...: 3 pairs per model on MovieLens-100K, 1 on the generated set, where a run takes
 * minutes) so that a change in the machine's load hits both sides alike.
 *
 *   npm run bench -- --suite recbole,recbole-generated [--quick]
 *   (SEMREC_BENCH_MODELS=neumf,... runs only those models)
 *   (`recbole`: MovieLens-100K; `recbole-generated`: the 100k x 20k set; each writes its own key of the
 *   results file, so the minutes-long generated run can be repeated without redoing the other)
 *   (RECBOLE_SRC=<folder holding recbole/>, or RECBOLE_MIRROR=<RecBole git dir> to export one; the anchor
 *   folder defaults to ../shared/anchors, SEMREC_SHARED_DIR moves ../shared)
 *
 * Protocol. MovieLens-100K: RecBole's per-user random 8:1:1 split (ratioSplit, seed 2020), written as
 * RecBole benchmark files (`benchmark_filename: [train, valid, test]`) so both sides train, stop and test
 * on the very same interactions; full ranking of all items with the user's training and validation items
 * excluded; early stopping on validation ndcg@10 with patience 10 on both sides (RecBole's `valid_metric`
 * set to NDCG@10; its `stopping_step` is 10); test metrics at the best validation epoch. Each side runs its
 * own default hyperparameters (listed in the results).
 *
 * `--quick` budgets MovieLens-100K too (a pipeline check, not a measurement).
 *
 * The 100k x 20k set is budgeted: a fixed number of epochs on both sides (BUDGET_EPOCHS), no validation,
 * test ndcg@10 after those epochs on both sides. RecBole's LightGCN propagates over the whole 2.5M-edge
 * graph for every mini-batch, so its epoch is timed on a fixed number of mini-batches (RECBOLE_LIGHTGCN_BATCHES,
 * a hook that ends its epoch early) and the epoch time is that per-batch time x batches per epoch; its
 * test ndcg@10 is then after those few batches, not after an epoch (said so in the row). RecBole's NeuMF
 * scores full rankings pair by pair through its MLP (2 billion pairs here), so its test metrics use the
 * first RECBOLE_NEUMF_TEST_USERS users' test items only; semrec reports both that subset and all users,
 * and times its full evaluation of all 100,000 users.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import JSON5 from 'json5';

import { ratioSplit } from '../ts/data/splits';
import { loadDataset } from '../ts/data/load';
import { evaluateRanking, usersWithTruth } from '../ts/eval/ranking';
import type { Csr } from '../ts/kernels/types';
import type { BaseRecommender } from '../ts/models/base';
import { userItems, type TrainingData } from '../ts/models/data';
import { createModel } from '../ts/models/registry';
import { setNumThreads } from '../ts/native/device';
import { concatRows, csrPairs } from '../ts/util/csr';
import { syntheticDataset } from './datasets';
import { type BenchContext, modelFilter, type Suite } from './harness';

/** Threads on each side (torch.set_num_threads on RecBole's, native threads on semrec's). */
const THREADS = 2;
/** Alternating run pairs per model on MovieLens-100K; epoch times are the median over them. */
const REPETITIONS = 3;
/** Run pairs on the generated set, where one run of a model takes minutes. */
const REPETITIONS_GENERATED = 1;
/** RecBole's default seed, used by both sides. */
const SEED = 2020;
/** Held-out items per user on the generated set (test, validation). */
const SYNTHETIC_TEST_PER_USER = 5;
const SYNTHETIC_VALIDATION_PER_USER = 1;
/** Epochs on the generated set, the same on both sides (see the header). */
const BUDGET_EPOCHS: Record<ModelKey, number> = { bpr: 5, lightgcn: 1, neumf: 1 };
/** Mini-batches of RecBole's LightGCN timed per run on the generated set. */
const RECBOLE_LIGHTGCN_BATCHES = 10;
/** Users whose test items RecBole's NeuMF is evaluated on, on the generated set. */
const RECBOLE_NEUMF_TEST_USERS = 1000;

const MODELS = ['bpr', 'lightgcn', 'neumf'] as const;
type ModelKey = (typeof MODELS)[number];
const RECBOLE_NAMES: Record<ModelKey, string> = { bpr: 'BPR', lightgcn: 'LightGCN', neumf: 'NeuMF' };

interface Parts {
  name: string;
  numUsers: number;
  numItems: number;
  train: TrainingData;
  validation: Csr;
  test: Csr;
  /** Full protocol (early stopping) or a fixed budget of epochs. */
  budgeted: boolean;
}

interface Peer {
  python: string;
  runner: string;
  recboleSrc: string;
  version?: string;
}

interface SideRun {
  epochs: number;
  /** Mean seconds per training epoch of this run (both sides report the same statistic). */
  secondsPerEpoch: number;
  testNdcg10: number;
  testRecall10?: number;
  bestEpoch?: number;
  note?: string;
  /** semrec on the generated set: ndcg@10 over RecBole's NeuMF test users, and the full evaluation time. */
  testNdcg10Subset?: number;
  fullEvalSeconds?: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function sharedDir(): string {
  return process.env.SEMREC_SHARED_DIR ?? path.resolve(__dirname, '..', '..', 'shared');
}

/** The RecBole runner and source, or why they are missing. */
function findPeer(log: (line: string) => void): Peer | string {
  const runner = path.join(sharedDir(), 'anchors', 'run_recbole.py');
  if (!fs.existsSync(runner)) return `no RecBole runner at ${runner}`;
  const python = '/usr/bin/python3';
  let recboleSrc = process.env.RECBOLE_SRC ?? '';
  if (!recboleSrc && process.env.RECBOLE_MIRROR) {
    recboleSrc = path.join(os.tmpdir(), 'semrec-recbole-src');
    if (!fs.existsSync(path.join(recboleSrc, 'recbole'))) {
      log(`exporting RecBole from ${process.env.RECBOLE_MIRROR} to ${recboleSrc}`);
      fs.mkdirSync(recboleSrc, { recursive: true });
      const exported = spawnSync('sh', ['-c', `git --git-dir="$RECBOLE_MIRROR" archive HEAD | tar -x -C "${recboleSrc}"`], { encoding: 'utf8' });
      if (exported.status !== 0) return `could not export RecBole: ${exported.stderr}`;
    }
  }
  if (!recboleSrc || !fs.existsSync(path.join(recboleSrc, 'recbole'))) {
    return 'RecBole source not found: set RECBOLE_SRC (a folder holding recbole/) or RECBOLE_MIRROR (its git directory)';
  }
  const version = spawnSync(python, ['-c', 'import recbole; print(recbole.__version__)'], {
    env: { ...process.env, PYTHONPATH: recboleSrc },
    encoding: 'utf8',
  });
  return { python, runner, recboleSrc, version: version.status === 0 ? version.stdout.trim() : undefined };
}

/** Writes `<dir>/<name>/<name>.{inter,train.inter,valid.inter,test.inter}` with our dense ids as tokens. */
function writeRecboleFiles(dir: string, parts: Parts, testUsers?: number): void {
  const folder = path.join(dir, parts.name);
  fs.mkdirSync(folder, { recursive: true });
  const write = (suffix: string, rows: number[], cols: number[]) => {
    const lines = ['user_id:token\titem_id:token'];
    for (let k = 0; k < rows.length; k++) lines.push(`${rows[k]}\t${cols[k]}`);
    fs.writeFileSync(path.join(folder, `${parts.name}.${suffix}`), `${lines.join('\n')}\n`);
  };
  const pairs = (csr: Csr, maxUser = Infinity) => {
    const { rows, cols } = csrPairs(csr);
    const keep = Array.from(rows.keys()).filter((k) => rows[k] < maxUser);
    return [keep.map((k) => rows[k]), keep.map((k) => cols[k])] as const;
  };
  const train = [Array.from(parts.train.userIdx), Array.from(parts.train.itemIdx)] as const;
  write('train.inter', ...train);
  write('valid.inter', ...pairs(parts.validation));
  write('test.inter', ...pairs(parts.test, testUsers));
  // The runner requires <name>.inter to exist; RecBole reads the three benchmark files instead.
  write('inter', ...train);
}

/** One RecBole run: the runner's JSON line. */
async function runRecbole(peer: Peer, dataDir: string, parts: Parts, model: ModelKey, overrides: string[], extraEnv: Record<string, string> = {}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-recbole-work-'));
  const args = [
    peer.runner, '--model', RECBOLE_NAMES[model], '--dataset', parts.name, '--data-dir', dataDir, '--work-dir', work,
    '--recbole-src', peer.recboleSrc, '--threads', String(THREADS), '--no-curve',
    '--set', 'benchmark_filename=[train, valid, test]', '--set', `seed=${SEED}`, '--set', 'valid_metric=NDCG@10',
    ...overrides.flatMap((o) => ['--set', o]),
  ];
  const started = performance.now();
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(peer.python, args, { env: { ...process.env, ...extraEnv } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  fs.rmSync(work, { recursive: true, force: true });
  if (result.code !== 0) throw new Error(`RecBole ${model} on ${parts.name} failed:\n${result.stderr.slice(-3000)}`);
  const line = result.stdout.trim().split('\n').pop() ?? '';
  // Python's json writes -Infinity for a score never set (no validation): JSON5 reads it.
  return { json: JSON5.parse(line) as Record<string, any>, wallSeconds: (performance.now() - started) / 1000 };
}

/** The python hook that ends each of RecBole's training epochs after a fixed number of mini-batches. */
function batchLimitHook(dir: string): string {
  const hookDir = path.join(dir, 'batch-limit');
  fs.mkdirSync(hookDir, { recursive: true });
  // sitecustomize runs at interpreter start; it wraps the trainer's epoch so the data loader stops early.
  fs.writeFileSync(
    path.join(hookDir, 'sitecustomize.py'),
    [
      '# Written by semrec bench/recbole.ts: stops every RecBole training epoch after N mini-batches, so an',
      '# epoch that would take an hour is timed on a fixed number of batches. RecBole itself is unchanged:',
      "# the trainer module's _train_epoch is wrapped when it is first imported.",
      'import importlib.abc, importlib.util, itertools, os, sys',
      'LIMIT = int(os.environ["SEMREC_RECBOLE_BATCHES"])',
      'class _Hook(importlib.abc.MetaPathFinder):',
      '    def find_spec(self, name, path, target=None):',
      '        if name != "recbole.trainer.trainer": return None',
      '        sys.meta_path.remove(self)',
      '        spec = importlib.util.find_spec(name)',
      '        loader = spec.loader',
      '        exec_module = loader.exec_module',
      '        def patched(module):',
      '            exec_module(module)',
      '            original = module.Trainer._train_epoch',
      '            def limited(self, train_data, epoch_idx, *a, **k):',
      '                class Limited:',
      '                    def __init__(self, inner): self.inner = inner',
      '                    def __iter__(self): return itertools.islice(iter(self.inner), LIMIT)',
      '                    def __len__(self): return min(LIMIT, len(self.inner))',
      '                    def __getattr__(self, key): return getattr(self.inner, key)',
      '                return original(self, Limited(train_data), epoch_idx, *a, **k)',
      '            module.Trainer._train_epoch = limited',
      '        loader.exec_module = patched',
      '        return spec',
      'sys.meta_path.insert(0, _Hook())',
      '',
    ].join('\n'),
  );
  return hookDir;
}

/**
 * How RecBole's torch (OpenMP) threads wait between parallel regions. Left to torch unless the machine is
 * busier than its cores at the start: then PASSIVE, because spinning waits collapse under
 * oversubscription (on the shared 2-core development machine, 2 spinning torch threads ran a BPR epoch of
 * ml-100k in 15 s, passive ones in 1.1 s, against 0.11 s on a quiet machine). An OMP_WAIT_POLICY already
 * set is kept. semrec's threads spin briefly, then sleep (semrec/thread_team.h), on either kind of machine.
 */
function recboleWaitPolicy(): { value?: string; reason?: string } {
  if (process.env.OMP_WAIT_POLICY) return { value: process.env.OMP_WAIT_POLICY, reason: 'set by the caller' };
  const load = os.loadavg()[0];
  const cores = os.cpus().length;
  if (load > cores) return { value: 'PASSIVE', reason: `load average ${load.toFixed(1)} > ${cores} cores at the start` };
  return {};
}

/** Batches in one of RecBole's training epochs (one positive per row, train_batch_size 2048). */
function recboleBatchesPerEpoch(parts: Parts): number {
  return Math.ceil(parts.train.numInteractions / 2048);
}

async function recboleRun(
  peer: Peer,
  dataDir: string,
  parts: Parts,
  model: ModelKey,
  hookDir: string,
  ompWaitPolicy: string | undefined,
): Promise<SideRun> {
  const overrides: string[] = [];
  let env: Record<string, string> = ompWaitPolicy ? { OMP_WAIT_POLICY: ompWaitPolicy } : {};
  let note: string | undefined;
  if (parts.budgeted) {
    overrides.push(`epochs=${BUDGET_EPOCHS[model]}`, 'eval_step=0');
    if (model === 'lightgcn') {
      env = { ...env, SEMREC_RECBOLE_BATCHES: String(RECBOLE_LIGHTGCN_BATCHES), PYTHONPATH: hookDir };
      note = `each epoch stopped after ${RECBOLE_LIGHTGCN_BATCHES} of ${recboleBatchesPerEpoch(parts)} mini-batches; seconds per epoch = per-batch time x ${recboleBatchesPerEpoch(parts)}; test ndcg@10 after those batches only`;
    }
    if (model === 'neumf') note = `test metrics over the first ${RECBOLE_NEUMF_TEST_USERS} users' test items (RecBole scores NeuMF pair by pair)`;
  }
  const { json } = await runRecbole(peer, dataDir, parts, model, overrides, env);
  let secondsPerEpoch = Number(json.train_epoch_s_mean);
  if (parts.budgeted && model === 'lightgcn') secondsPerEpoch *= recboleBatchesPerEpoch(parts) / RECBOLE_LIGHTGCN_BATCHES;
  return {
    epochs: Number(json.epochs_run),
    secondsPerEpoch,
    testNdcg10: Number(json.test_result['ndcg@10']),
    testRecall10: Number(json.test_result['recall@10']),
    bestEpoch: json.best_epoch === null ? undefined : Number(json.best_epoch) + 1,
    note,
  };
}

async function semrecRun(parts: Parts, model: ModelKey): Promise<SideRun> {
  const recommender = createModel(model, parts.budgeted ? { epochs: BUDGET_EPOCHS[model] } : {}) as BaseRecommender<object>;
  const seen = userItems(parts.train);
  const report = await recommender.fit(parts.train, {
    seed: SEED,
    numThreads: THREADS,
    earlyStopping: parts.budgeted ? undefined : { data: csrToData(parts, parts.validation), metric: 'ndcg@10', patience: 10 },
  });
  const exclude = concatRows(seen, parts.validation);
  const evalStart = performance.now();
  const outcome = await evaluateRanking((users) => recommender.scoreUsers(users), {
    numUsers: parts.numUsers, numItems: parts.numItems, truth: parts.test, exclude, ks: [10],
  });
  const evalSeconds = (performance.now() - evalStart) / 1000;
  const seconds = report.epochs.map((e) => e.seconds);
  const run: SideRun = {
    epochs: report.epochs.length,
    secondsPerEpoch: seconds.reduce((a, b) => a + b, 0) / Math.max(1, seconds.length),
    testNdcg10: outcome.mean['ndcg@10'],
    testRecall10: outcome.mean['recall@10'],
    bestEpoch: parts.budgeted ? undefined : report.bestEpoch,
  };
  if (parts.budgeted) {
    run.fullEvalSeconds = evalSeconds;
    const subset = usersWithTruth(parts.test).filter((u) => u < RECBOLE_NEUMF_TEST_USERS);
    const perUser = outcome.perUser['ndcg@10'];
    let sum = 0;
    let n = 0;
    for (let k = 0; k < outcome.users.length; k++) {
      if (outcome.users[k] < RECBOLE_NEUMF_TEST_USERS && !Number.isNaN(perUser[k])) {
        sum += perUser[k];
        n++;
      }
    }
    if (subset.length > 0) run.testNdcg10Subset = sum / n;
  }
  return run;
}

/** A CSR of held-out items as TrainingData (what early stopping takes). */
function csrToData(parts: Parts, csr: Csr): TrainingData {
  const { rows, cols } = csrPairs(csr);
  return {
    ...parts.train,
    numInteractions: rows.length,
    userIdx: rows,
    itemIdx: cols,
    rating: new Float32Array(rows.length).fill(1),
    timestamp: new Float64Array(rows.length),
    review: undefined,
  };
}

async function ml100k(quick: boolean): Promise<Parts | undefined> {
  const dir = path.join(sharedDir(), 'datasets', 'ml-100k');
  if (!fs.existsSync(dir)) return undefined;
  const store = await loadDataset({ format: 'ml-100k', path: dir });
  const split = ratioSplit(store, { ratios: [0.8, 0.1, 0.1], seed: SEED });
  return {
    name: 'semrec-ml-100k',
    numUsers: store.numUsers,
    numItems: store.numItems,
    train: split.train,
    validation: userItems(split.validation!),
    test: userItems(split.test),
    budgeted: quick,
  };
}

function generated(quick: boolean): Parts {
  const [users, items] = quick ? [5_000, 2_000] : [100_000, 20_000];
  const d = syntheticDataset(users, items, 20, 1, {
    testPerUser: SYNTHETIC_TEST_PER_USER,
    validationPerUser: SYNTHETIC_VALIDATION_PER_USER,
  });
  return { name: d.name, numUsers: users, numItems: items, train: d.train, validation: d.validation, test: d.test, budgeted: true };
}

async function sideBySide(context: BenchContext, datasets: Parts[]) {
  setNumThreads(THREADS);
  const loadBefore = os.loadavg();
  const peer = findPeer(context.log);
  if (typeof peer === 'string') context.log(`RecBole side skipped: ${peer}`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-recbole-data-'));
  const hookDir = batchLimitHook(dataDir);
  const ompWaitPolicy = recboleWaitPolicy();
  if (ompWaitPolicy.reason) context.log(`RecBole's torch threads: OMP_WAIT_POLICY=${ompWaitPolicy.value} (${ompWaitPolicy.reason})`);
  const rows: Record<string, unknown>[] = [];
  const result = () => ({
    note:
      'Both sides on the same split files and the same machine, 2 threads each, runs alternating RecBole/semrec. ' +
      'Seconds per epoch: each run\'s mean over its epochs, median over the runs. Each side uses its own default ' +
      'hyperparameters. See bench/recbole.ts for the protocol and the budget on the generated set.',
    recbole: typeof peer === 'string' ? { skipped: peer } : { version: peer.version, runner: peer.runner },
    threads: THREADS,
    repetitions: { ml100k: context.quick ? 1 : REPETITIONS, generated: context.quick ? 1 : REPETITIONS_GENERATED },
    recboleOmpWaitPolicy: ompWaitPolicy.value ?? "torch's default",
    loadAverage: { before: loadBefore, after: os.loadavg() },
    // Ratios between the two sides are the figures to read on a busy machine: alternating runs share its load.
    conditions: loadBefore[0] > os.cpus().length ? 'busy machine (other work running)' : 'quiet machine',
    budgetEpochs: BUDGET_EPOCHS,
    recboleLightgcnBatches: RECBOLE_LIGHTGCN_BATCHES,
    recboleNeumfTestUsers: RECBOLE_NEUMF_TEST_USERS,
    results: rows,
  });
  try {
    for (const parts of datasets) {
      context.log(`${parts.name}: ${parts.numUsers} users x ${parts.numItems} items, ${parts.train.numInteractions} training interactions`);
      for (const model of modelFilter(MODELS) ?? MODELS) {
        if (typeof peer !== 'string') {
          writeRecboleFiles(dataDir, parts, parts.budgeted && model === 'neumf' ? RECBOLE_NEUMF_TEST_USERS : undefined);
        }
        const recbole: SideRun[] = [];
        const semrec: SideRun[] = [];
        const repetitions = context.quick ? 1 : parts.budgeted ? REPETITIONS_GENERATED : REPETITIONS;
        for (let rep = 0; rep < repetitions; rep++) {
          if (typeof peer !== 'string') {
            const r = await recboleRun(peer, dataDir, parts, model, hookDir, ompWaitPolicy.value);
            recbole.push(r);
            context.log(`  ${model.padEnd(8)} RecBole run ${rep + 1}: ${r.secondsPerEpoch.toFixed(3)} s/epoch, ${r.epochs} epochs, test ndcg@10 ${r.testNdcg10.toFixed(4)}`);
          }
          const s = await semrecRun(parts, model);
          semrec.push(s);
          context.log(`  ${model.padEnd(8)} semrec  run ${rep + 1}: ${s.secondsPerEpoch.toFixed(3)} s/epoch, ${s.epochs} epochs, test ndcg@10 ${s.testNdcg10.toFixed(4)}` +
            (s.fullEvalSeconds !== undefined ? `, full evaluation ${s.fullEvalSeconds.toFixed(1)} s` : ''));
        }
        const summary = (runs: SideRun[]) =>
          runs.length === 0
            ? undefined
            : {
                secondsPerEpochMedian: median(runs.map((r) => r.secondsPerEpoch)),
                testNdcg10: runs[0].testNdcg10,
                testNdcg10Runs: runs.map((r) => r.testNdcg10),
                ...(runs[0].testNdcg10Subset !== undefined ? { testNdcg10FirstUsers: runs[0].testNdcg10Subset } : {}),
                ...(runs[0].fullEvalSeconds !== undefined ? { fullEvalSecondsMedian: median(runs.map((r) => r.fullEvalSeconds!)) } : {}),
                runs,
              };
        const ours = summary(semrec)!;
        const theirs = summary(recbole);
        rows.push({
          dataset: parts.name,
          model,
          protocol: parts.budgeted ? `${BUDGET_EPOCHS[model]} epoch(s) on both sides, no validation` : 'early stopping on validation ndcg@10, patience 10',
          semrec: ours,
          recbole: theirs,
          epochSpeedup: theirs ? theirs.secondsPerEpochMedian / ours.secondsPerEpochMedian : undefined,
        });
        await context.checkpoint?.(result());
      }
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return result();
}

export const recboleSuite: Suite = {
  name: 'recbole',
  description: 'semrec and RecBole side by side on ml-100k: epoch time and test ndcg@10 of bpr, lightgcn, neumf',
  async run(context: BenchContext) {
    const ml = await ml100k(context.quick);
    if (!ml) {
      context.log('ml-100k not found under ../shared/datasets: skipped');
      return { skipped: 'ml-100k not found under ../shared/datasets' };
    }
    return sideBySide(context, [ml]);
  },
};

export const recboleGeneratedSuite: Suite = {
  name: 'recbole-generated',
  description: 'semrec and RecBole side by side on the generated 100k x 20k set: epoch time, test ndcg@10, full evaluation',
  run: (context: BenchContext) => sideBySide(context, [generated(context.quick)]),
};
