import assert from 'node:assert/strict';

import { loadDataset } from '../../ts/data/load';
import { DenseIdMap, emptyItemMetadata, InteractionStore } from '../../ts/data/store';
import { isSemrecError } from '../../ts/errors';
import { ITEM_TEMPLATES, itemTexts, REVIEW_TEMPLATE, reviewTexts, truncateText, USER_TEMPLATES, userTexts } from '../../ts/semantic/templates';
import { requireShared, sharedDataset } from '../helpers/shared';

/** Two items, three reviews: item 0 has title, genres, a synopsis, a year and two reviews; item 1 nothing but a review. */
function smallStore(): InteractionStore {
  const items = emptyItemMetadata(2);
  items.title[0] = 'Cowboy Bebop';
  items.genres[0] = ['Action', 'Sci-Fi', 'Space'];
  items.text.synopsis = ['Bounty hunters travel the solar system.', undefined];
  items.numeric.episodes = Float64Array.from([26, NaN]);
  return new InteractionStore({
    name: 'small',
    userIds: DenseIdMap.from(['u1', 'u2', 'u3']),
    itemIds: DenseIdMap.from(['bebop', 'x42']),
    userIdx: Int32Array.from([0, 1, 2]),
    itemIdx: Int32Array.from([0, 0, 1]),
    rating: Float32Array.from([5, 2, 4]),
    timestamp: Float64Array.from([100, 200, 150]),
    review: ['Great jazz soundtrack and style.', 'Too slow in the middle episodes.', 'Works fine.'],
    reviewSummary: ['Classic', undefined, 'ok'],
    items,
    users: { fields: { age: [24, undefined, 31], gender: ['F', 'M', ''] } },
  });
}

describe('semantic/templates', () => {
  it('builds item text from title, genres, text and numeric fields and the newest reviews first', () => {
    const texts = itemTexts(smallStore(), ITEM_TEMPLATES.myanimelist);
    assert.equal(
      texts[0],
      'Cowboy Bebop. Genres: Action, Sci-Fi, Space. Episodes: 26. Synopsis: Bounty hunters travel the solar system. ' +
        'Reviews: "Too slow in the middle episodes." "Classic. Great jazz soundtrack and style.".',
    );
  });

  it('skips missing fields and falls back to the raw id when an item has nothing', () => {
    const store = smallStore();
    assert.equal(itemTexts(store, { parts: [{ kind: 'title' }, { kind: 'numeric', field: 'episodes' }] })[1], 'x42');
    assert.equal(itemTexts(store, ITEM_TEMPLATES.myanimelist)[1], 'Reviews: "ok. Works fine.".');
  });

  it('takes at most `count` snippets of at most `maxChars` characters', () => {
    const texts = itemTexts(smallStore(), { parts: [{ kind: 'reviews', count: 1, maxChars: 12 }] });
    assert.equal(texts[0], '"Too slow in…".');
  });

  it('uses only the reviews of the store it is given (a training split keeps held-out reviews out)', () => {
    const store = smallStore();
    const train = store.select(Int32Array.from([0, 2]));
    assert.doesNotMatch(itemTexts(train, ITEM_TEMPLATES.myanimelist)[0], /Too slow/);
  });

  it('builds review text with the summary first, one per interaction', () => {
    assert.deepEqual(reviewTexts(smallStore()), ['Classic. Great jazz soundtrack and style.', 'Too slow in the middle episodes.', 'ok. Works fine.']);
    assert.deepEqual(reviewTexts(smallStore(), { ...REVIEW_TEMPLATE, includeSummary: false })[0], 'Great jazz soundtrack and style.');
  });

  it('builds user text from metadata fields, skipping empty ones', () => {
    assert.deepEqual(userTexts(smallStore(), { fields: [{ field: 'age', label: 'Age' }, { field: 'gender', label: 'Gender' }] }), ['Age: 24. Gender: F', 'Gender: M', 'Age: 31']);
  });

  it('truncates at a word boundary with an ellipsis', () => {
    assert.equal(truncateText('one two three four', 9), 'one two…');
    assert.equal(truncateText('  spaced\n\ttext  ', 50), 'spaced text');
  });

  it('rejects a malformed template, naming the part', () => {
    assert.throws(() => itemTexts(smallStore(), { parts: [{ kind: 'bogus' } as never] }), (e: unknown) => isSemrecError(e, 'ERR_INVALID_ARG_VALUE') && /parts\[0\]/.test((e as Error).message));
  });

  it('describes every Amazon Musical Instruments item from its reviews', async function () {
    requireShared(this, sharedDataset('amazon-musical-instruments-5core'));
    const store = await loadDataset({ format: 'amazon-reviews', path: sharedDataset('amazon-musical-instruments-5core') });
    const texts = itemTexts(store, ITEM_TEMPLATES['amazon-reviews']);
    assert.equal(texts.length, 900);
    assert.ok(texts.every((t) => t.startsWith('Reviews: "')), 'the 5-core file has no item metadata; every item has >= 5 reviews');
    assert.ok(texts.every((t) => t.length < 3 * 200 + 40));
    assert.equal(reviewTexts(store).length, store.numInteractions);
  });

  it('describes MovieLens-100K movies and users', async function () {
    requireShared(this, sharedDataset('ml-100k'));
    const store = await loadDataset({ format: 'ml-100k', path: sharedDataset('ml-100k') });
    assert.equal(itemTexts(store, ITEM_TEMPLATES['ml-100k'])[0], 'Toy Story (1995). Genres: Animation, Children\'s, Comedy. Year: 1995.');
    assert.equal(userTexts(store, USER_TEMPLATES['ml-100k']!)[0], 'Age: 24. Gender: M. Occupation: technician');
  });
});
