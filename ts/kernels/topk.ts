/** Row-wise top-k of a dense score matrix (native CPU or CUDA). */
import { addon } from '../native/addon';
import type { TopKOptions, TopKResult } from './types';
import { ArgReader, MAX_INDEX } from './validate';

function topKArgs(options: TopKOptions, op: string): object {
  const args = new ArgReader(options, op);
  const numRows = args.integer('numRows', 0, MAX_INDEX);
  const numCols = args.integer('numCols', 0, MAX_INDEX);
  const k = args.topKWidth('k', numCols);
  const scores = args.float32('scores');
  args.length('scores', scores.length, numRows * numCols, 'numRows x numCols');
  return { scores, numRows, numCols, k, exclude: args.csr('exclude', numRows, true), device: args.device() };
}

/** Top-k of each row, off the JS thread. */
export async function topK(options: TopKOptions): Promise<TopKResult> {
  return addon().topK(topKArgs(options, 'topK'));
}

/** Top-k of each row on the calling thread (for small inputs). */
export function topKSync(options: TopKOptions): TopKResult {
  return addon().topKSync(topKArgs(options, 'topK'));
}
