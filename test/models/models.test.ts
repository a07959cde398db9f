/**
 * The Recommender contract, run for every model in the registry: a one-epoch smoke test on a tiny
 * fixture, recommendations that exclude seen items and agree with the scores, a save/load round trip,
 * bit-reproducible single-thread training, and learning something on planted data.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { isSemrecError } from '../../ts/errors';
import { evaluateRanking } from '../../ts/eval/ranking';
import { userItems } from '../../ts/models/data';
import { isRatingPredictor } from '../../ts/models/mf';
import { MODEL_FORMAT_VERSION, writeModel } from '../../ts/models/persist';
import { createModel, describeParams, loadModel, MODEL_NAMES, type ModelName } from '../../ts/models/registry';
import { plantedInteractions } from '../helpers/interactions';
import { Random } from '../helpers/random';
import { useTempDirs } from '../helpers/tempdir';

const tempDir = useTempDirs('semrec-models-');

/** Hyperparameters that make one epoch of every iterative model (fast on the fixture). */
const ONE_EPOCH: Partial<Record<ModelName, object>> = {
  mf: { epochs: 1, dim: 8 },
  bpr: { epochs: 1, dim: 8 },
  neumf: { epochs: 1, gmfDim: 4, mlpDim: 4, hidden: [8, 4] },
  lightgcn: { epochs: 1, dim: 8, batchSize: 64 },
  vbpr: { epochs: 1, dim: 4, contentDim: 4 },
  lightfm: { epochs: 1, dim: 8 },
  sasrec: { epochs: 1, hidden: 8, inner: 16, maxLength: 10, batchSize: 64 },
  bert4rec: { epochs: 1, hidden: 8, inner: 16, maxLength: 10, batchSize: 64 },
};

/** Settings that train to convergence on the planted fixture within a second or two. */
const TRAINED: Partial<Record<ModelName, object>> = {
  mf: { epochs: 30, dim: 8 },
  bpr: { epochs: 40, dim: 16 },
  neumf: { epochs: 15, gmfDim: 8, mlpDim: 8, hidden: [16, 8], lr: 0.003 },
  lightgcn: { epochs: 40, dim: 16, batchSize: 256, lr: 0.01 },
  vbpr: { epochs: 40, dim: 16, contentDim: 8 },
  lightfm: { epochs: 20, dim: 16 },
  // The planted fixture has no sequential order: the transformers learn the user's taste from the history.
  sasrec: { epochs: 30, hidden: 16, inner: 32, layers: 1, maxLength: 20, batchSize: 256, lr: 0.005, hiddenDropout: 0.1, attnDropout: 0.1 },
  bert4rec: { epochs: 30, hidden: 32, inner: 64, layers: 1, maxLength: 20, batchSize: 64, lr: 0.01, hiddenDropout: 0.1, attnDropout: 0.1 },
};

/** Random (user, item) pairs rated 1..5 by planted biases and tastes plus noise; the last 20% held out. */
function plantedRatings(seed: number) {
  const rng = new Random(seed);
  const [numUsers, numItems, perUser, dim] = [200, 100, 30, 3];
  const u = Array.from({ length: numUsers * dim }, () => rng.normal());
  const v = Array.from({ length: numItems * dim }, () => rng.normal());
  const bu = Array.from({ length: numUsers }, () => rng.normal() * 0.5);
  const bi = Array.from({ length: numItems }, () => rng.normal() * 0.5);
  const rows: { user: number; item: number; rating: number }[] = [];
  for (let user = 0; user < numUsers; user++) {
    for (let k = 0; k < perUser; k++) {
      const item = rng.int(0, numItems - 1);
      let s = 3 + bu[user] + bi[item] + rng.normal() * 0.3;
      for (let t = 0; t < dim; t++) s += 0.5 * u[user * dim + t] * v[item * dim + t];
      rows.push({ user, item, rating: Math.min(5, Math.max(1, Math.round(s))) });
    }
  }
  rng.shuffle(rows);
  const cut = Math.floor(rows.length * 0.8);
  const make = (part: typeof rows) => ({
    ...fixture.train,
    numUsers,
    numItems,
    numInteractions: part.length,
    userIdx: Int32Array.from(part, (r) => r.user),
    itemIdx: Int32Array.from(part, (r) => r.item),
    rating: Float32Array.from(part, (r) => r.rating),
    timestamp: new Float64Array(part.length),
  });
  return { train: make(rows.slice(0, cut)), test: make(rows.slice(cut)) };
}


function expectCode(code: string) {
  return (error: unknown) => {
    assert.ok(isSemrecError(error), `expected a SemrecError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

const fixture = plantedInteractions(5, 40, 50, 10, 3);
const allUsers = Int32Array.from({ length: fixture.train.numUsers }, (_, u) => u);

for (const name of MODEL_NAMES) {
  describe(`model '${name}'`, () => {
    it('fits one epoch on a tiny fixture and scores every item with finite values', async () => {
      const model = createModel(name, (ONE_EPOCH[name] ?? {}) as never);
      const report = await model.fit(fixture.train, { seed: 3 });
      assert.equal(model.fitted, true);
      assert.equal(report.epochs.length, ONE_EPOCH[name] ? 1 : 0);
      for (const e of report.epochs) assert.ok(Number.isFinite(e.loss), `epoch loss ${e.loss}`);
      const scores = await model.scoreUsers(allUsers);
      assert.equal(scores.length, fixture.train.numUsers * fixture.train.numItems);
      assert.ok(scores.every(Number.isFinite));
    });

    it('recommends the best-scored unseen items, best first', async () => {
      const model = createModel(name, (ONE_EPOCH[name] ?? {}) as never);
      await model.fit(fixture.train, { seed: 3 });
      const users = [0, 7, 7, 39];
      const k = 5;
      const recs = await model.recommend(users, k);
      const scores = await model.scoreUsers(Int32Array.from(users));
      const seen = userItems(fixture.train);
      const n = fixture.train.numItems;
      users.forEach((u, r) => {
        const seenItems = new Set(seen.indices.subarray(seen.indptr[u], seen.indptr[u + 1]));
        const ranked = Array.from({ length: n }, (_, i) => i)
          .filter((i) => !seenItems.has(i))
          .sort((a, b) => scores[r * n + b] - scores[r * n + a] || a - b);
        const got = Array.from(recs.indices.subarray(r * k, (r + 1) * k));
        // Scores of the same pair computed by two different kernels may differ in the last bit: compare
        // the recommended items' scores with the best unseen scores rather than the items themselves.
        got.forEach((item, p) => {
          assert.ok(!seenItems.has(item), `user ${u}: seen item ${item} recommended`);
          assert.ok(Math.abs(scores[r * n + item] - scores[r * n + ranked[p]]) <= 1e-5 * Math.max(1, Math.abs(scores[r * n + item])), `user ${u} rank ${p}`);
        });
      });
      const withSeen = await model.recommend([0], n, { excludeSeen: false });
      assert.ok(withSeen.indices.every((i) => i >= 0), 'all items are ranked when seen items are kept');
    });

    it('saves and loads to the same scores', async () => {
      const model = createModel(name, (ONE_EPOCH[name] ?? {}) as never);
      await model.fit(fixture.train, { seed: 3 });
      const dir = path.join(tempDir(), 'saved');
      await model.save(dir);
      const loaded = await loadModel(dir);
      assert.equal(loaded.name, name);
      assert.deepEqual(loaded.params, model.params);
      assert.deepEqual(await loaded.scoreUsers(allUsers), await model.scoreUsers(allUsers));
      assert.deepEqual(await loaded.recommend([1, 2], 4), await model.recommend([1, 2], 4));
    });

    it('trains bit-reproducibly from its seed on one thread', async () => {
      const runs = [];
      for (let r = 0; r < 2; r++) {
        const model = createModel(name, (ONE_EPOCH[name] ?? {}) as never);
        await model.fit(fixture.train, { seed: 17, numThreads: 1 });
        runs.push(await model.scoreUsers(allUsers));
      }
      assert.deepEqual(runs[0], runs[1]);
    });

    it('ranks held-out items far better than chance once trained', async function () {
      const data = plantedInteractions(11, 150, 120, 20, 4);
      const model = createModel(name, (TRAINED[name] ?? {}) as never);
      await model.fit(data.train, { seed: 1 });
      const outcome = await evaluateRanking((u) => model.scoreUsers(u), {
        numUsers: data.train.numUsers,
        numItems: data.train.numItems,
        truth: userItems(data.test),
        exclude: userItems(data.train),
        ks: [10],
      });
      // Chance: 4 relevant of ~104 unseen items gives recall@10 ~ 0.1. Planted structure lets every
      // model but pop (which knows nothing of users) reach well above twice that.
      const floor = name === 'pop' || name === 'mf' ? 0.1 : 0.2;
      assert.ok(outcome.mean['recall@10'] > floor, `recall@10 ${outcome.mean['recall@10']}`);
    });

    it('documents a default for every hyperparameter', () => {
      for (const p of describeParams(name)) {
        assert.notEqual(p.default, undefined, `${name}.${p.name} has no default`);
        assert.ok(p.description.length > 0, `${name}.${p.name} has no description`);
      }
    });
  });
}

describe('models: errors and training control', () => {
  it('refuses unknown models and invalid hyperparameters, naming them', () => {
    assert.throws(() => createModel('svdpp' as ModelName), expectCode('ERR_UNKNOWN_MODEL'));
    assert.throws(() => createModel('bpr', { lr: -1 }), (e: unknown) => expectCode('ERR_INVALID_PARAMS')(e) && /'lr'/.test((e as Error).message));
    assert.throws(() => createModel('bpr', { learningRate: 0.1 } as never), expectCode('ERR_INVALID_PARAMS'));
  });

  it('refuses to score or save before fit', async () => {
    const model = createModel('bpr');
    await assert.rejects(model.scoreUsers(Int32Array.of(0)), expectCode('ERR_NOT_FITTED'));
    await assert.rejects(model.save(tempDir()), expectCode('ERR_NOT_FITTED'));
  });

  it('rejects user indices out of range', async () => {
    const model = createModel('pop');
    await model.fit(fixture.train);
    await assert.rejects(model.recommend([fixture.train.numUsers], 3), expectCode('ERR_OUT_OF_RANGE'));
  });

  it('stops at the next epoch when aborted, leaving the model unfitted', async () => {
    const controller = new AbortController();
    const model = createModel('bpr', { epochs: 50, dim: 8 });
    const fitting = model.fit(fixture.train, {
      signal: controller.signal,
      onProgress: (e) => {
        if (e.done === 2) controller.abort();
      },
    });
    await assert.rejects(fitting, expectCode('ERR_ABORTED'));
    assert.equal(model.fitted, false);
  });

  it('reports progress per epoch', async () => {
    const events: number[] = [];
    await createModel('bpr', { epochs: 3, dim: 4 }).fit(fixture.train, { onProgress: (e) => events.push(e.done) });
    assert.deepEqual(events, [1, 2, 3]);
  });

  it('stops early on the validation metric and keeps the best epoch', async () => {
    const data = plantedInteractions(2, 100, 80, 16, 3);
    // A learning rate this high makes validation quality peak early and then degrade.
    const model = createModel('bpr', { epochs: 60, dim: 16, lr: 0.3 });
    const report = await model.fit(data.train, { seed: 2, earlyStopping: { data: data.test, metric: 'ndcg@10', patience: 3 } });
    const values = report.epochs.map((e) => e.validation!);
    const best = Math.max(...values);
    assert.equal(values[report.bestEpoch - 1], best);
    assert.ok(report.epochs.length - report.bestEpoch <= 3);
    const outcome = await evaluateRanking((u) => model.scoreUsers(u), {
      numUsers: data.train.numUsers,
      numItems: data.train.numItems,
      truth: userItems(data.test),
      exclude: userItems(data.train),
      ks: [10],
    });
    assert.ok(Math.abs(outcome.mean['ndcg@10'] - best) < 1e-9, 'the kept parameters are those of the best epoch');
  });

  it('mf needs explicit ratings and predicts them better than the global mean', async () => {
    const noRatings = { ...fixture.train, rating: new Float32Array(fixture.train.numInteractions).fill(NaN) };
    await assert.rejects(createModel('mf').fit(noRatings), expectCode('ERR_MISSING_RATINGS'));
    const data = plantedRatings(4);
    const model = createModel('mf', { epochs: 40, dim: 8, lr: 0.01 });
    await model.fit(data.train, { seed: 1 });
    assert.ok(isRatingPredictor(model));
    const predicted = model.predictRatings(data.test.userIdx, data.test.itemIdx);
    const mean = data.train.rating.reduce((s, r) => s + r, 0) / data.train.numInteractions;
    let sse = 0;
    let sseMean = 0;
    data.test.rating.forEach((r, e) => {
      sse += (r - predicted[e]) ** 2;
      sseMean += (r - mean) ** 2;
    });
    assert.ok(sse < 0.9 * sseMean, `RMSE ${Math.sqrt(sse / predicted.length)} vs global mean ${Math.sqrt(sseMean / predicted.length)}`);
  });

  it('vbpr trains on given content vectors and checks their shape', async () => {
    const n = fixture.train.numItems;
    const content = { data: Float32Array.from({ length: n * 6 }, (_, k) => Math.sin(k)), dim: 6 };
    const model = createModel('vbpr', { epochs: 2, dim: 4, contentDim: 3 });
    await model.fit(fixture.train, { itemFeatures: content });
    assert.ok((await model.scoreUsers(Int32Array.of(0))).every(Number.isFinite));
    await assert.rejects(
      createModel('vbpr').fit(fixture.train, { itemFeatures: { data: new Float32Array(5), dim: 6 } }),
      expectCode('ERR_INVALID_ARG_VALUE'),
    );
  });
});

describe('models: saved files', () => {
  async function saved(): Promise<string> {
    const model = createModel('bpr', { epochs: 1, dim: 4 });
    await model.fit(fixture.train);
    const dir = path.join(tempDir(), 'bpr');
    await model.save(dir);
    return dir;
  }

  /** The stored weights file model.json names. */
  const weightsFile = (dir: string) => path.join(dir, JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).files['weights.bin'].path);

  it('writes a versioned manifest listing every file with its size and SHA-256, itself checksummed, and no staging files', async () => {
    const dir = await saved();
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    assert.equal(manifest.format, 'semrec-model');
    assert.equal(manifest.version, MODEL_FORMAT_VERSION);
    assert.equal(manifest.model, 'bpr');
    assert.match(manifest.files['weights.bin'].sha256, /^[0-9a-f]{64}$/);
    assert.equal(manifest.files['weights.bin'].bytes, fs.statSync(weightsFile(dir)).size);
    assert.match(manifest.manifestSha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(fs.readdirSync(path.dirname(dir)), ['bpr']);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['model.json', path.basename(weightsFile(dir))].sort());
  });

  it('replaces a saved model atomically', async () => {
    const dir = await saved();
    const other = createModel('pop');
    await other.fit(fixture.train);
    await other.save(dir);
    assert.equal((await loadModel(dir)).name, 'pop');
    assert.deepEqual(fs.readdirSync(path.dirname(dir)), ['bpr']);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['model.json', path.basename(weightsFile(dir))].sort(), 'the replaced model\'s files are removed');
  });

  it('refuses to overwrite a directory that is not a saved model', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'keep me');
    const model = createModel('pop');
    await model.fit(fixture.train);
    await assert.rejects(model.save(dir), expectCode('ERR_INVALID_ARG_VALUE'));
    assert.equal(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8'), 'keep me');
  });

  it('detects damaged weights', async () => {
    const dir = await saved();
    const file = weightsFile(dir);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length >> 1] ^= 0x40;
    fs.writeFileSync(file, bytes);
    await assert.rejects(loadModel(dir), expectCode('ERR_MODEL_CORRUPT'));
  });

  it('detects truncated weights and a damaged manifest', async () => {
    const dir = await saved();
    const file = weightsFile(dir);
    fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 100));
    await assert.rejects(loadModel(dir), expectCode('ERR_MODEL_CORRUPT'));
    fs.writeFileSync(path.join(dir, 'model.json'), '{ "format": "semrec-model", ');
    await assert.rejects(loadModel(dir), expectCode('ERR_MODEL_CORRUPT'));
  });

  it('refuses a model saved in an older format version, saying how to re-save it', async () => {
    const dir = await saved();
    const manifestPath = path.join(dir, 'model.json');
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    manifest.version = 1;
    fs.writeFileSync(manifestPath, JSON.stringify(manifest));
    await assert.rejects(
      loadModel(dir),
      (e: unknown) =>
        expectCode('ERR_MODEL_VERSION')(e) &&
        new RegExp(`earlier semrec in format version 1; this semrec reads version ${MODEL_FORMAT_VERSION}`).test((e as Error).message) &&
        /semrec train .*--model bpr/.test((e as Error).message),
    );
  });

  it('refuses a model saved by a newer semrec (its own checksum intact), saying to upgrade', async () => {
    const dir = await saved();
    const manifestPath = path.join(dir, 'model.json');
    const { manifestSha256: _old, ...manifest } = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    manifest.version = MODEL_FORMAT_VERSION + 1;
    // As a newer semrec would write it: the trailer's SHA-256 covers every byte before it.
    const head = JSON.stringify(manifest, null, 2).slice(0, -2);
    const sha = createHash('sha256').update(head).digest('hex');
    fs.writeFileSync(manifestPath, `${head},\n  "manifestSha256": "${sha}"\n}\n`);
    await assert.rejects(loadModel(dir), (e: unknown) => expectCode('ERR_MODEL_VERSION')(e) && /upgrade semrec/.test((e as Error).message));
  });

  it('catches any edit of model.json that would change results: an array offset, a hyperparameter', async () => {
    const dir = await saved();
    const manifestPath = path.join(dir, 'model.json');
    const text = fs.readFileSync(manifestPath, 'utf8');
    for (const [what, edited] of [
      ['an array offset', text.replace(/"offset": (\d+)(?![\s\S]*"offset")/, (_m, n) => `"offset": ${Number(n) + 8}`)],
      ['itemBias', text.replace(/"itemBias": (true|false)/, (_m, b) => `"itemBias": ${b === 'true' ? 'false' : 'true'}`)],
      ['a learning rate digit', text.replace(/"lr": 0\.0(\d)/, (_m, d) => `"lr": 0.0${(Number(d) + 1) % 10}`)],
    ] as const) {
      assert.notEqual(edited, text, what);
      fs.writeFileSync(manifestPath, edited);
      await assert.rejects(loadModel(dir), (e: unknown) => expectCode('ERR_MODEL_CORRUPT')(e) && /SHA-256 recorded at the end of model\.json/.test((e as Error).message), what);
    }
  });

  it('reports hand-made manifests with coded errors that blame the right thing', async () => {
    const dir = await saved();
    const manifestPath = path.join(dir, 'model.json');
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    for (const [edit, code, message] of [
      [{ files: null }, 'ERR_MODEL_CORRUPT', /damaged/],
      [{ weights: null }, 'ERR_MODEL_CORRUPT', /damaged/],
      [{ version: String(MODEL_FORMAT_VERSION) }, 'ERR_MODEL_CORRUPT', /damaged/],
      [{ version: '1' }, 'ERR_MODEL_CORRUPT', /damaged/],
      [{ version: MODEL_FORMAT_VERSION + 1 }, 'ERR_MODEL_CORRUPT', /damaged/], // a newer version's checksum would match; this one does not
      [{ version: 1 }, 'ERR_MODEL_VERSION', /earlier semrec/],
    ] as const) {
      fs.writeFileSync(manifestPath, JSON.stringify({ ...manifest, ...edit }, null, 2));
      await assert.rejects(loadModel(dir), (e: unknown) => expectCode(code)(e) && message.test((e as Error).message), JSON.stringify(edit));
    }
  });

  it('refuses to save meta that JSON cannot keep (NaN), rather than writing a model that will not load', async () => {
    const dir = path.join(tempDir(), 'x');
    await assert.rejects(
      writeModel(dir, { model: 'pop', params: {}, meta: { numUsers: NaN }, arrays: {} }),
      (e: unknown) => expectCode('ERR_INVALID_ARG_VALUE')(e) && /meta 'numUsers'/.test((e as Error).message),
    );
    assert.ok(!fs.existsSync(dir));
  });

  it('says when there is no model to load', async () => {
    await assert.rejects(loadModel(tempDir()), expectCode('ERR_MODEL_NOT_FOUND'));
  });
});
