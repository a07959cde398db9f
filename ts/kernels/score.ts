/** Dot-product scoring of users against items: dense blocks, or top-k without the full matrix. */
import { SemrecError } from '../errors';
import { addon } from '../native/addon';
import type { ScoreMatrixOptions, ScoreMatrixResult, ScoreTopKOptions, TopKResult } from './types';
import { ArgReader, MAX_DIM } from './validate';

function embeddingArgs(args: ArgReader) {
  const dim = args.integer('dim', 1, MAX_DIM);
  const users = args.float32('users');
  const items = args.float32('items');
  for (const [field, array] of [['users', users], ['items', items]] as const) {
    if (array.length % dim !== 0) {
      throw new SemrecError(
        `${args.op}: ${field}.length (${array.length}) must be a multiple of dim (${dim})`,
        'ERR_INVALID_ARG_VALUE',
      );
    }
  }
  const numUsers = users.length / dim;
  const numItems = items.length / dim;
  const itemBias = args.float32('itemBias', true);
  if (itemBias) args.length('itemBias', itemBias.length, numItems, 'the number of items');
  return { users, items, dim, itemBias, numUsers, numItems, device: args.device() };
}

function scoreTopKArgs(options: ScoreTopKOptions, op: string): object {
  const args = new ArgReader(options, op);
  const e = embeddingArgs(args);
  const k = args.topKWidth('k', e.numItems);
  return { ...e, k, exclude: args.csr('exclude', e.numUsers, true) };
}

/** Dense numUsers x numItems block of users . items^T (+ itemBias), off the JS thread. */
export async function scoreMatrix(options: ScoreMatrixOptions): Promise<ScoreMatrixResult> {
  return addon().scoreMatrix(embeddingArgs(new ArgReader(options, 'scoreMatrix')));
}

export function scoreMatrixSync(options: ScoreMatrixOptions): ScoreMatrixResult {
  return addon().scoreMatrixSync(embeddingArgs(new ArgReader(options, 'scoreMatrix')));
}

/**
 * Top-k items per user by users . items^T (+ itemBias), computed block-wise so the full score matrix is
 * never materialised; same order and padding as topK. Off the JS thread.
 */
export async function scoreTopK(options: ScoreTopKOptions): Promise<TopKResult> {
  return addon().scoreTopK(scoreTopKArgs(options, 'scoreTopK'));
}

export function scoreTopKSync(options: ScoreTopKOptions): TopKResult {
  return addon().scoreTopKSync(scoreTopKArgs(options, 'scoreTopK'));
}
