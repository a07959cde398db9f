/**
 * The BERT path: a WordPiece tokenizer.json (written here, Hugging Face's format) and a tiny BERT-layout
 * encoder with token_type_ids, both built by the test.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { createEncoder } from '../../ts/semantic/encoder';
import { buildTransformerEncoder, randomTransformerWeights, type TransformerConfig } from '../../ts/semantic/onnx/roberta';
import { HfTokenizer } from '../../ts/semantic/tokenizer';

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]'];
const WORDS = ['the', 'guitar', '##s', 'amp', 'hum', '##s', 'loud', 'quiet', 'string', 'broke', '.', ',', '!'];
const VOCAB = [...SPECIALS, ...new Set(WORDS)];

function wordPieceJson(): object {
  const vocab = Object.fromEntries(VOCAB.map((t, i) => [t, i]));
  const special = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map(special),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [vocab['[CLS]']], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [vocab['[SEP]']], tokens: ['[SEP]'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

const TINY_BERT: TransformerConfig = { layout: 'bert', vocabSize: VOCAB.length, hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPositions: 64, typeVocabSize: 2, paddingIdx: 0, layerNormEps: 1e-12 };

describe('semantic: BERT layout with a WordPiece tokenizer', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-tiny-bert-'));
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(wordPieceJson()));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '[PAD]', do_lower_case: true }));
    fs.writeFileSync(path.join(dir, 'model.onnx'), buildTransformerEncoder(TINY_BERT, randomTransformerWeights(TINY_BERT, 99)));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', hidden_size: 32, max_position_embeddings: 64 }));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('tokenizes with WordPiece: lower-cased, ## continuations, [UNK], [CLS] ... [SEP]', () => {
    const tok = HfTokenizer.fromDirectory(dir);
    assert.equal(tok.kind, 'hf:WordPiece');
    const id = (t: string) => VOCAB.indexOf(t);
    assert.deepEqual(tok.encode('The Guitars hum!', 64), [id('[CLS]'), id('the'), id('guitar'), id('##s'), id('hum'), id('!'), id('[SEP]')]);
    assert.deepEqual(tok.encode('banjo', 64), [id('[CLS]'), id('[UNK]'), id('[SEP]')]);
    assert.deepEqual(tok.encode('the guitar amp hum', 4), [id('[CLS]'), id('the'), id('guitar'), id('[SEP]')]);
    assert.equal(tok.padId, id('[PAD]'));
  });

  it('feeds token_type_ids, pools from config.json defaults, and is padding invariant', async () => {
    const encoder = await createEncoder({ model: dir });
    try {
      assert.equal(encoder.dim, 32);
      assert.equal(encoder.pooling, 'mean'); // no 1_Pooling/config.json: the sentence-transformers default
      assert.equal(encoder.maxLength, 64); // capped at max_position_embeddings
      const texts = ['the amp hums', 'the guitar string broke, the amp hums loud!', 'quiet'];
      const batch = await encoder.encode(texts);
      for (let i = 0; i < texts.length; i++) {
        const alone = await encoder.encode([texts[i]]);
        for (let d = 0; d < 32; d++) assert.ok(Math.abs(alone[d] - batch[i * 32 + d]) < 1e-5);
      }
    } finally {
      await encoder.release();
    }
  });
});
