/**
 * `bert4rec`: BERT4Rec (Sun et al. 2019, "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
 * Representations from Transformer"), as RecBole builds it: bidirectional self-attention, masked-item
 * training (each position replaced by a mask token with probability maskRatio, cross-entropy over all items
 * at the masked positions), an output head (dense + GELU + LayerNorm) before the output layer tied to the
 * item embeddings plus an output bias; a history is scored by appending the mask token to its last
 * maxLength - 1 items. Trained natively (semrec/transformer.h).
 */
import type { Csr } from '../kernels/types';
import type { Random } from '../util/random';
import type { FitContext } from './base';
import { positiveInt, z } from './params';
import { SequentialRecommender, transformerParamsSchema } from './sequential';
import { maskedPrefixes, maskedWindows, reorderSegments, type Segments } from './transformer';

/** RecBole's BERT4Rec.yaml: dropout 0.2, mask_ratio 0.2, 2 layers, 2 heads, hidden 64, inner 256. */
export const bert4RecParams = z
  .object({
    ...transformerParamsSchema({ hiddenDropout: 0.2, attnDropout: 0.2 }),
    maskRatio: z.number().gt(0).max(1).default(0.2).describe('probability that a position is masked in training (RecBole mask_ratio)'),
    samples: z
      .enum(['prefixes', 'windows'])
      .default('prefixes')
      .describe("'prefixes': every prefix of every sequence, as RecBole trains; 'windows': each sequence in windows of maxLength, as the BERT4Rec paper"),
    copies: positiveInt(1000).default(10).describe("masked copies of each window per epoch with samples 'windows' (the paper's dupe factor 10)"),
  })
  .strict();
export type Bert4RecParams = z.output<typeof bert4RecParams>;

export class Bert4RecModel extends SequentialRecommender<Bert4RecParams> {
  readonly name = 'bert4rec';
  protected readonly causal = false;
  protected readonly outputHead = true;
  protected readonly extraTokens = 1;
  /** RecBole's train_batch_size counts masked sequences, each with several masked targets. */
  protected override readonly batchBySequences = true;

  protected get historyKeep(): number {
    return this.params.maxLength - 1;
  }
  protected get historySuffix(): number[] {
    return [this.numItems]; // the mask token
  }

  /** RecBole's training samples (or the paper's windows), masked afresh each epoch, in a seeded random order. */
  protected epochSegments(sequences: Csr, _ctx: FitContext, rng: Random): Segments {
    const p = this.params;
    const segments =
      p.samples === 'windows'
        ? maskedWindows(sequences, p.maxLength, p.maskRatio, this.numItems, p.copies, rng)
        : maskedPrefixes(sequences, p.maxLength, p.maskRatio, this.numItems, rng);
    const order = rng.shuffle(Array.from({ length: segments.offsets.length - 1 }, (_, i) => i));
    return reorderSegments(segments, order);
  }
}
