/**
 * What a worker keeps between shards: loaded models, datasets and their splits, encoders and embedding
 * caches. Consecutive shards of a batch name the same inputs, so each is loaded once per worker and
 * checked against the digest recorded at submission on every shard (cheap: a manifest hash), never
 * trusted from the path alone.
 */
import { loadDataset, type DatasetFormat } from '../data/load';
import type { InteractionStore } from '../data/store';
import { prepareSeed, type ProtocolName, type SeedContext } from '../eval/harness';
import type { BaseRecommender } from '../models/base';
import { savedModelDigest } from '../models/persist';
import { loadModel } from '../models/registry';
import { type EmbeddingCache, openEmbeddingCache } from '../semantic/cache';
import { createEncoder, type Encoder } from '../semantic/encoder';
import { defaultCacheDir } from '../util/cache-dir';
import { datasetFingerprint, inputChanged } from './inputs';
import type { EncoderSpec } from './spec';

/** Models, datasets and encoders kept per worker: the current input and the one before it. */
const KEEP_MODELS = 2;
const KEEP_DATASETS = 1;
/** Splits kept per worker: a grid's cells of one dataset reuse a seed's split across models. */
const KEEP_SPLITS = 4;
/** Seconds between saves of a worker's embedding caches (a save rewrites the whole file). */
const CACHE_SAVE_INTERVAL_MS = 30_000;

/** A small least-recently-used map of promises (so concurrent shards share one load). */
class Lru<V> {
  private readonly entries = new Map<string, Promise<V>>();

  constructor(
    private readonly capacity: number,
    private readonly evicted: (value: Promise<V>) => void = () => {},
  ) {}

  get(key: string, load: () => Promise<V>): Promise<V> {
    let value = this.entries.get(key);
    if (value) {
      this.entries.delete(key);
    } else {
      value = load();
      // A failed load is not kept: the next shard tries again.
      value.catch(() => {
        if (this.entries.get(key) === value) this.entries.delete(key);
      });
    }
    this.entries.set(key, value);
    while (this.entries.size > this.capacity) {
      const [oldest, old] = this.entries.entries().next().value as [string, Promise<V>];
      this.entries.delete(oldest);
      this.evicted(old);
    }
    return value;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  values(): Promise<V>[] {
    return [...this.entries.values()];
  }
}

export interface LoadedDataset {
  store: InteractionStore;
  fingerprint: string;
}

interface LoadedEncoder {
  encoder: Encoder;
  cache?: EmbeddingCache;
  lastSave: number;
}

export class WorkerResources {
  private readonly models = new Lru<BaseRecommender<object>>(KEEP_MODELS);
  private readonly datasets = new Lru<LoadedDataset>(KEEP_DATASETS);
  private readonly splits = new Lru<SeedContext>(KEEP_SPLITS);
  private readonly encoders = new Lru<LoadedEncoder>(1, (old) => {
    void old.then((e) => this.releaseEncoder(e)).catch(() => {});
  });

  /** The saved model in `dir`, refused unless the dir still has the digest recorded at submission. */
  async model(dir: string, digest: string): Promise<BaseRecommender<object>> {
    const found = await savedModelDigest(dir);
    if (found !== digest) throw inputChanged(`the model in ${dir}`, digest, found);
    return this.models.get(`${dir}\n${digest}`, () => loadModel(dir));
  }

  /** A dataset, refused unless it loads to the fingerprint recorded at submission. */
  async dataset(format: string, path: string, fingerprint: string, signal?: AbortSignal): Promise<LoadedDataset> {
    const key = `${format}\n${path}`;
    const loaded = await this.datasets.get(key, async () => {
      const store = await loadDataset({ format: format as DatasetFormat, path, signal });
      return { store, fingerprint: datasetFingerprint(store) };
    });
    if (loaded.fingerprint !== fingerprint) {
      this.datasets.delete(key); // the next shard reads the files again (they may be put back)
      throw inputChanged(`the ${format} dataset at ${path}`, fingerprint, loaded.fingerprint);
    }
    return loaded;
  }

  /** One seed's split of a loaded dataset under a protocol. */
  split(dataset: LoadedDataset, protocol: ProtocolName, seed: number): Promise<SeedContext> {
    return this.splits.get(`${dataset.fingerprint}\n${protocol}\n${seed}`, async () => prepareSeed(dataset.store, protocol, seed));
  }

  /** An encoder (with this machine's embedding cache when asked), refused unless it gives the vectors of `encoderId`. */
  async encoder(spec: EncoderSpec, encoderId: string, signal?: AbortSignal): Promise<LoadedEncoder> {
    const loaded = await this.encoders.get(JSON.stringify(spec), async () => {
      const encoder = await createEncoder({
        model: spec.model,
        maxLength: spec.maxLength,
        batchSize: spec.batchSize,
        intraOpThreads: spec.threads,
        revision: spec.revision,
        offline: spec.offline,
        signal,
      });
      const cache = spec.cache
        ? await openEmbeddingCache(defaultCacheDir(), encoder)
        : undefined;
      return { encoder, cache, lastSave: Date.now() };
    });
    if (loaded.encoder.id !== encoderId) throw inputChanged(`the encoder '${spec.model}' on this worker`, encoderId, loaded.encoder.id);
    return loaded;
  }

  /** Saves an encoder's embedding cache when the last save is older than CACHE_SAVE_INTERVAL_MS. */
  async saveCacheSometimes(loaded: LoadedEncoder): Promise<void> {
    if (!loaded.cache || Date.now() - loaded.lastSave < CACHE_SAVE_INTERVAL_MS) return;
    loaded.lastSave = Date.now();
    await loaded.cache.save();
  }

  private async releaseEncoder(loaded: LoadedEncoder): Promise<void> {
    await loaded.cache?.save();
    await loaded.encoder.release();
  }

  /** Saves embedding caches and releases encoders. */
  async close(): Promise<void> {
    for (const value of this.encoders.values()) {
      const loaded = await value.catch(() => undefined);
      if (loaded) await this.releaseEncoder(loaded);
    }
  }
}
