/**
 * `sasrec`: SASRec (Kang & McAuley 2018, "Self-Attentive Sequential Recommendation"), as RecBole builds it:
 * causal self-attention over the last `maxLength` items, the output layer tied to the item embeddings, and
 * next-item training with cross-entropy over all items (RecBole's loss_type CE) or, with `loss: 'bce'`, the
 * paper's binary cross-entropy against one sampled negative per target. Trained natively (semrec/transformer.h).
 */
import type { Csr } from '../kernels/types';
import type { Random } from '../util/random';
import type { FitContext } from './base';
import { z } from './params';
import { SequentialRecommender, transformerParamsSchema } from './sequential';
import { nextItemWindows, reorderSegments, type Segments } from './transformer';

/** RecBole's SASRec.yaml: dropout 0.5 on hidden states and attention, 2 layers, 2 heads, hidden 64, inner 256. */
export const sasRecParams = z
  .object({
    ...transformerParamsSchema({ hiddenDropout: 0.5, attnDropout: 0.5 }),
    loss: z.enum(['ce', 'bce']).default('ce').describe("'ce': softmax over all items (RecBole); 'bce': one sampled negative per target (the paper)"),
  })
  .strict();
export type SasRecParams = z.output<typeof sasRecParams>;

/** Draws before a negative is accepted even though the user has it (only users with nearly every item get there). */
const MAX_NEGATIVE_TRIES = 64;

export class SasRecModel extends SequentialRecommender<SasRecParams> {
  readonly name = 'sasrec';
  protected readonly causal = true;
  protected readonly outputHead = false;
  protected readonly extraTokens = 0;

  protected get historyKeep(): number {
    return this.params.maxLength;
  }
  protected readonly historySuffix: number[] = [];

  /** Every transition once, in windows (see nextItemWindows), windows in a seeded random order. */
  protected epochSegments(sequences: Csr, ctx: FitContext, rng: Random): Segments {
    const windows = nextItemWindows(sequences, this.params.maxLength);
    const order = rng.shuffle(Array.from({ length: windows.offsets.length - 1 }, (_, i) => i));
    const segments = reorderSegments(windows, order);
    if (this.params.loss === 'bce') segments.negatives = this.negatives(segments, ctx.seen, rng);
    return segments;
  }

  /** One uniformly drawn item per target that the target's user never interacted with in training. */
  private negatives(segments: Segments, seen: Csr, rng: Random): Int32Array {
    const out = new Int32Array(segments.tokens.length);
    for (let s = 0; s + 1 < segments.offsets.length; s++) {
      const user = segments.users[s];
      for (let t = segments.offsets[s]; t < segments.offsets[s + 1]; t++) {
        let item = rng.int(0, this.numItems - 1);
        for (let tries = 1; tries < MAX_NEGATIVE_TRIES && hasItem(seen, user, item); tries++) item = rng.int(0, this.numItems - 1);
        out[t] = item;
      }
    }
    return out;
  }
}

function hasItem(csr: Csr, row: number, item: number): boolean {
  let lo = csr.indptr[row];
  let hi = csr.indptr[row + 1] - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (csr.indices[mid] === item) return true;
    if (csr.indices[mid] < item) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}
