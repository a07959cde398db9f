/**
 * What the model commands (eval, train) share: hyperparameters from --params / --set, item content
 * vectors from a `semrec embed` file, and integer lists.
 */
import fs from 'node:fs/promises';

import JSON5 from 'json5';

import type { InteractionStore } from '../data/store';
import { SemrecError } from '../errors';
import type { ItemFeatureMatrix } from '../models/contract';
import { checkModelName, type ModelName } from '../models/registry';
import { readEmbeddingFile } from '../semantic/embedding-file';
import { sha256File } from '../util/fs';

export function integers(text: string, flag: string, min: number): number[] {
  const values = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (values.length === 0) throw new SemrecError(`${flag} must list at least one integer`, 'ERR_INVALID_ARG_VALUE');
  return values.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new SemrecError(`${flag}: '${s}' is not an integer >= ${min}`, 'ERR_INVALID_ARG_VALUE');
    return n;
  });
}

/** A commander argument parser for one integer flag (`--k 10`): a coded error naming the flag otherwise. */
export function integerOption(flag: string, min: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new SemrecError(`${flag} must be an integer >= ${min}, got '${value}'`, 'ERR_INVALID_ARG_VALUE');
    return n;
  };
}

/** Hyperparameters from --params (JSON or JSON5: { "bpr": { "lr": 0.01 } }) and --set model.key=value flags. */
export async function readParams(file: string | undefined, sets: string[]): Promise<Partial<Record<ModelName, Record<string, unknown>>>> {
  const params: Partial<Record<ModelName, Record<string, unknown>>> = {};
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON5.parse(await fs.readFile(file, 'utf8'));
    } catch (cause) {
      throw new SemrecError(`--params ${file}: ${(cause as Error).message}`, 'ERR_INVALID_ARG_VALUE', { cause });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new SemrecError(`--params ${file}: expected an object of model name -> hyperparameters`, 'ERR_INVALID_ARG_VALUE');
    }
    for (const [model, values] of Object.entries(parsed)) {
      const name = checkModelName(model, `--params ${file}`);
      if (typeof values !== 'object' || values === null || Array.isArray(values)) {
        throw new SemrecError(`--params ${file}: '${model}' must map to an object of hyperparameters`, 'ERR_INVALID_ARG_VALUE');
      }
      params[name] = { ...(values as Record<string, unknown>) };
    }
  }
  for (const assignment of sets) {
    const match = /^([a-z0-9]+)\.([A-Za-z0-9]+)=(.*)$/.exec(assignment);
    if (!match) throw new SemrecError(`--set '${assignment}' must look like model.param=value (e.g. bpr.lr=0.01)`, 'ERR_INVALID_ARG_VALUE');
    const name = checkModelName(match[1], `--set ${assignment}`);
    let value: unknown = match[3];
    try {
      value = JSON5.parse(match[3]);
    } catch {
      // not a number, boolean or list: keep the text
    }
    params[name] = { ...params[name], [match[2]]: value };
  }
  return params;
}

/**
 * Item content vectors for vbpr from a `semrec embed` file: its 'items' section, rows matched to the
 * dataset's items by raw id; `source` names the file and its SHA-256 (recorded in models and reports).
 */
export async function readItemFeatures(file: string, store: InteractionStore): Promise<ItemFeatureMatrix> {
  const embedded = await readEmbeddingFile(file);
  const items = embedded.sections.get('items');
  if (!items?.rowIds) throw new SemrecError(`--item-features ${file}: no 'items' section with item ids (write it with semrec embed)`, 'ERR_INVALID_ARG_VALUE');
  const data = new Float32Array(store.numItems * items.cols);
  const found = new Uint8Array(store.numItems);
  items.rowIds.forEach((raw, r) => {
    const i = store.itemIds.index(raw);
    if (i === undefined) return;
    data.set(items.data.subarray(r * items.cols, (r + 1) * items.cols), i * items.cols);
    found[i] = 1;
  });
  const missing = found.indexOf(0);
  if (missing >= 0) {
    throw new SemrecError(
      `--item-features ${file}: item '${store.itemIds.raw(missing)}' of ${store.name} has no vector (was the file made from this dataset?)`,
      'ERR_INVALID_ARG_VALUE',
    );
  }
  return { data, dim: items.cols, source: `${file} (sha256 ${await sha256File(file)})` };
}
