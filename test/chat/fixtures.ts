/**
 * A small movie dataset in ml-100k's layout (u.data, u.item in Latin-1, u.user, u.genre): 40 well-known
 * titles written the way MovieLens writes them ("Godfather, The (1972)", alternative titles in
 * parentheses, accents), 30 users with demographics whose ratings follow three planted tastes (sci-fi /
 * action, drama / crime, family / comedy), so a model trained on it ranks in-taste movies first and the
 * history, profile and explanations have something true to say.
 */
import fs from 'node:fs';
import path from 'node:path';

import { ChatEngine } from '../../ts/chat/engine';
import { loadDataset } from '../../ts/data/load';
import type { InteractionStore } from '../../ts/data/store';
import { Random } from '../helpers/random';

const GENRES = ['unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy', 'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western'];

/** [title, release date, genres, taste 0..2] */
export const MOVIES: [string, string, string[], number][] = [
  ['Star Wars (1977)', '01-Jan-1977', ['Action', 'Adventure', 'Romance', 'Sci-Fi', 'War'], 0],
  ['Empire Strikes Back, The (1980)', '01-Jan-1980', ['Action', 'Adventure', 'Drama', 'Romance', 'Sci-Fi', 'War'], 0],
  ['Return of the Jedi (1983)', '14-Mar-1997', ['Action', 'Adventure', 'Romance', 'Sci-Fi', 'War'], 0],
  ['Alien (1979)', '01-Jan-1979', ['Action', 'Horror', 'Sci-Fi', 'Thriller'], 0],
  ['Aliens (1986)', '01-Jan-1986', ['Action', 'Sci-Fi', 'Thriller', 'War'], 0],
  ['Terminator, The (1984)', '01-Jan-1984', ['Action', 'Sci-Fi', 'Thriller'], 0],
  ['Terminator 2: Judgment Day (1991)', '01-Jan-1991', ['Action', 'Sci-Fi', 'Thriller'], 0],
  ['Raiders of the Lost Ark (1981)', '01-Jan-1981', ['Action', 'Adventure'], 0],
  ['Independence Day (ID4) (1996)', '03-Jul-1996', ['Action', 'Sci-Fi', 'War'], 0],
  ['Men in Black (1997)', '04-Jul-1997', ['Action', 'Adventure', 'Comedy', 'Sci-Fi'], 0],
  ['Jurassic Park (1993)', '01-Jan-1993', ['Action', 'Adventure', 'Sci-Fi'], 0],
  ['Twelve Monkeys (1995)', '01-Jan-1995', ['Drama', 'Sci-Fi'], 0],
  ['Contact (1997)', '11-Jul-1997', ['Drama', 'Sci-Fi'], 0],
  ['GoldenEye (1995)', '01-Jan-1995', ['Action', 'Adventure', 'Thriller'], 0],
  ['Godfather, The (1972)', '01-Jan-1972', ['Action', 'Crime', 'Drama'], 1],
  ['Godfather: Part II, The (1974)', '01-Jan-1974', ['Action', 'Crime', 'Drama'], 1],
  ['Fargo (1996)', '14-Feb-1997', ['Crime', 'Drama', 'Thriller'], 1],
  ['Pulp Fiction (1994)', '01-Jan-1994', ['Crime', 'Drama'], 1],
  ['Usual Suspects, The (1995)', '14-Aug-1995', ['Crime', 'Thriller'], 1],
  ['Shawshank Redemption, The (1994)', '01-Jan-1994', ['Drama'], 1],
  ['Silence of the Lambs, The (1991)', '01-Jan-1991', ['Drama', 'Thriller'], 1],
  ['Casablanca (1942)', '01-Jan-1942', ['Drama', 'Romance', 'War'], 1],
  ['Schindler\'s List (1993)', '01-Jan-1993', ['Drama', 'War'], 1],
  ['English Patient, The (1996)', '15-Nov-1996', ['Drama', 'Romance', 'War'], 1],
  ['Shining, The (1980)', '01-Jan-1980', ['Horror'], 1],
  ['Scream (1996)', '20-Dec-1996', ['Horror', 'Thriller'], 1],
  ['Nightmare on Elm Street, A (1984)', '01-Jan-1984', ['Horror'], 1],
  ['City of Lost Children, The (Cité des enfants perdus, La) (1995)', '01-Jan-1995', ['Adventure', 'Sci-Fi'], 1],
  ['Toy Story (1995)', '01-Jan-1995', ['Animation', "Children's", 'Comedy'], 2],
  ['Lion King, The (1994)', '01-Jan-1994', ['Animation', "Children's", 'Musical'], 2],
  ['Aladdin (1992)', '01-Jan-1992', ['Animation', "Children's", 'Comedy', 'Musical'], 2],
  ['Beauty and the Beast (1991)', '01-Jan-1991', ['Animation', "Children's", 'Musical'], 2],
  ['Babe (1995)', '01-Jan-1995', ["Children's", 'Comedy', 'Drama'], 2],
  ['Princess Bride, The (1987)', '01-Jan-1987', ['Action', 'Adventure', 'Comedy', 'Romance'], 2],
  ['Clueless (1995)', '01-Jan-1995', ['Comedy', 'Romance'], 2],
  ['Liar Liar (1997)', '21-Mar-1997', ['Comedy'], 2],
  ['Sense and Sensibility (1995)', '01-Jan-1995', ['Drama', 'Romance'], 2],
  ['Misérables, Les (1995)', '01-Jan-1995', ['Drama', 'Musical'], 2],
  ['Titanic (1997)', '01-Jan-1997', ['Action', 'Drama', 'Romance'], 2],
  ['Home Alone (1990)', '01-Jan-1990', ["Children's", 'Comedy'], 2],
];

const OCCUPATIONS = ['technician', 'writer', 'student', 'educator', 'programmer', 'artist'];
export const NUM_USERS = 30;
/** Ratings per user: most in the user's taste, a few outside it. */
const PER_USER = 16;

/** Writes the dataset into `dir`; user u (1-based) has taste (u - 1) % 3. */
export function writeMovieDataset(dir: string, seed = 7): void {
  const rng = new Random(seed);
  const items = MOVIES.map(([title, date, genres], m) => {
    const flags = GENRES.map((g) => (genres.includes(g) ? '1' : '0'));
    return `${m + 1}|${title}|${date}||http://example.org/${m + 1}|${flags.join('|')}`;
  });
  fs.writeFileSync(path.join(dir, 'u.item'), `${items.join('\n')}\n`, 'latin1');
  fs.writeFileSync(path.join(dir, 'u.genre'), `${GENRES.map((g, i) => `${g}|${i}`).join('\n')}\n\n`);
  const users = Array.from({ length: NUM_USERS }, (_, u) => `${u + 1}|${18 + ((u * 7) % 45)}|${u % 2 === 0 ? 'M' : 'F'}|${OCCUPATIONS[u % OCCUPATIONS.length]}|${10000 + u}`);
  fs.writeFileSync(path.join(dir, 'u.user'), `${users.join('\n')}\n`);
  const lines: string[] = [];
  for (let u = 1; u <= NUM_USERS; u++) {
    const taste = (u - 1) % 3;
    const inTaste = rng.shuffle(MOVIES.map((m, i) => (m[3] === taste ? i : -1)).filter((i) => i >= 0)) as number[];
    const outside = rng.shuffle(MOVIES.map((m, i) => (m[3] !== taste ? i : -1)).filter((i) => i >= 0)) as number[];
    const chosen = [...inTaste.slice(0, PER_USER - 3).map((i) => [i, true] as const), ...outside.slice(0, 3).map((i) => [i, false] as const)];
    let t = 880_000_000 + u * 1000;
    for (const [i, liked] of rng.shuffle(chosen) as (readonly [number, boolean])[]) {
      const rating = liked ? rng.int(4, 5) : rng.int(1, 2);
      lines.push(`${u}\t${i + 1}\t${rating}\t${(t += 86_400)}`);
    }
  }
  fs.writeFileSync(path.join(dir, 'u.data'), `${lines.join('\n')}\n`);
}

/** bpr small and single-threaded: bit-reproducible candidates in well under a second. */
export const FAST_BPR = { epochs: 30, dim: 16 };
/** The same as command-line options. */
export const FAST_BPR_ARGS = ['--model', 'bpr', '--set', 'bpr.epochs=30', '--set', 'bpr.dim=16', '--seed', '1', '--threads', '1'];

/** Writes the dataset into `dir`, loads it and trains the engine's bpr on all of it. */
export async function fixtureEngine(dir: string): Promise<{ store: InteractionStore; engine: ChatEngine }> {
  writeMovieDataset(dir);
  const store = await loadDataset({ format: 'ml-100k', path: dir });
  const engine = await ChatEngine.train(store, { model: 'bpr', params: FAST_BPR, seed: 1, numThreads: 1 });
  return { store, engine };
}
