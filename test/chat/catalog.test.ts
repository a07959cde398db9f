/** Title matching: what LLMs write mapped to MovieLens' spelling, and what must never be confused. */
import assert from 'node:assert/strict';

import { ChatCatalog, FUZZY_TITLE_SIMILARITY, titleKey, titleSimilarity } from '../../ts/chat/catalog';
import { MOVIES } from './fixtures';

const catalog = new ChatCatalog(
  MOVIES.map((_, i) => String(i + 1)),
  MOVIES.map((m) => m[0]),
  MOVIES.map((m) => m[2]),
  MOVIES.map((m) => Number(m[1].slice(-4))),
);
const index = (title: string) => MOVIES.findIndex((m) => m[0] === title);
const everything = MOVIES.map((_, i) => i);
const match = (text: string) => catalog.matchTitle(text, [], everything)?.itemIdx;

describe('chat/catalog title matching', () => {
  it('moves a trailing article back and sets the year aside: "The Godfather" is "Godfather, The (1972)"', () => {
    assert.equal(titleKey('Godfather, The (1972)').key, 'godfather');
    assert.equal(titleKey('The Godfather').key, 'godfather');
    assert.equal(titleKey('Godfather, The (1972)').year, 1972);
    assert.equal(match('The Godfather'), index('Godfather, The (1972)'));
    assert.equal(match('the godfather (1972)'), index('Godfather, The (1972)'));
    assert.equal(match('A Nightmare on Elm Street'), index('Nightmare on Elm Street, A (1984)'));
  });

  it('matches accents, non-English articles and alternative titles in parentheses', () => {
    assert.equal(match('Les Miserables'), index('Misérables, Les (1995)'));
    assert.equal(match('The City of Lost Children'), index('City of Lost Children, The (Cité des enfants perdus, La) (1995)'));
    assert.equal(match('La Cité des enfants perdus'), index('City of Lost Children, The (Cité des enfants perdus, La) (1995)'));
  });

  it('forgives a typo by fuzzy similarity, within the documented threshold', () => {
    assert.ok(titleSimilarity('godfater', 'godfather') >= FUZZY_TITLE_SIMILARITY);
    assert.equal(match('The Godfater'), index('Godfather, The (1972)'));
    assert.equal(match('Shawshank Redemtion'), index('Shawshank Redemption, The (1994)'));
  });

  it('keeps sequels apart: numbers must agree, Roman or Arabic', () => {
    assert.equal(match('Terminator 2'), undefined, 'no exact "terminator 2" and no fuzzy match across numbers');
    assert.equal(match('Terminator 2: Judgment Day'), index('Terminator 2: Judgment Day (1991)'));
    assert.equal(match('The Terminator'), index('Terminator, The (1984)'));
    assert.equal(match('The Godfather Part II'), index('Godfather: Part II, The (1974)'));
    assert.equal(match('The Godfather Part III'), undefined, 'III is not II, however close the letters');
    assert.equal(match('The Godfather'), index('Godfather, The (1972)'));
  });

  it('does not confuse different titles that share letters', () => {
    assert.ok(titleSimilarity('star trek', 'star wars') < FUZZY_TITLE_SIMILARITY);
    assert.equal(match('Star Trek'), undefined);
    assert.equal(match('Alien'), index('Alien (1979)'));
    assert.equal(match('Aliens'), index('Aliens (1986)'));
  });

  it('prefers the preferred items (the candidates) among equal exact matches, and a year picks between them', () => {
    const twins = new ChatCatalog(['1', '2'], ['Hamlet (1990)', 'Hamlet (1996)'], [[], []]);
    assert.equal(twins.matchTitle('Hamlet', [1])?.itemIdx, 1);
    assert.equal(twins.matchTitle('Hamlet (1990)', [1])?.itemIdx, 0);
  });

  it('fuzzy-matches only within the pool it is given (the candidates and history), exact over the catalog', () => {
    assert.equal(catalog.matchTitle('The Godfater', [], [])?.itemIdx, undefined);
    assert.equal(catalog.matchTitle('The Godfather', [], [])?.itemIdx, index('Godfather, The (1972)'));
  });
});
