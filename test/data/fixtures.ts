/**
 * Generated datasets in the real publishers' layouts (the licensed originals are not in the repository and
 * ML-1M / ML-25M are not available offline): small, seeded, with the awkward parts of the real files
 * (quoted commas in titles, Latin-1 bytes, half stars, movies without genres), and the truth to compare with.
 */
import fs from 'node:fs';
import path from 'node:path';

import { Random } from '../helpers/random';

export interface Truth {
  /** [userId, movieId, rating, timestamp] in file order. */
  ratings: [string, string, number, number][];
  movies: { id: string; title: string; genres: string[] }[];
}

const GENRES = ['Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Film-Noir', 'Sci-Fi'];
const TITLES = ['American President, The', 'Misérables, Les', 'City of Lost Children, The', 'Dead Man Walking', 'Seven (a.k.a. Se7en)', '"Great" Escape'];

function makeTruth(rng: Random, numUsers: number, numMovies: number): Truth {
  const movies = Array.from({ length: numMovies }, (_, m) => ({
    id: String(10 * m + 1),
    title: `${TITLES[m % TITLES.length]} ${m} (${1950 + (m % 60)})`,
    genres: m % 7 === 3 ? [] : (rng.shuffle([...GENRES]) as string[]).slice(0, rng.int(1, 3)),
  }));
  const ratings: Truth['ratings'] = [];
  for (let u = 1; u <= numUsers; u++) {
    const seen = (rng.shuffle(movies.map((m) => m.id)) as string[]).slice(0, rng.int(1, Math.min(8, numMovies)));
    for (const id of seen) ratings.push([String(u), id, rng.int(1, 10) / 2, 9e8 + rng.int(0, 1e7)]);
  }
  return { movies, ratings };
}

const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** ml-latest style folder: ratings.csv, movies.csv, tags.csv, links.csv (UTF-8, RFC 4180 quoting). */
export function writeMovielensCsv(dir: string, seed: number, numUsers = 40, numMovies = 30): Truth {
  const rng = new Random(seed);
  const truth = makeTruth(rng, numUsers, numMovies);
  fs.writeFileSync(
    path.join(dir, 'movies.csv'),
    ['movieId,title,genres', ...truth.movies.map((m) => `${m.id},${csvField(m.title)},${m.genres.length ? m.genres.join('|') : '(no genres listed)'}`)].join('\n') + '\n',
  );
  fs.writeFileSync(path.join(dir, 'ratings.csv'), ['userId,movieId,rating,timestamp', ...truth.ratings.map((r) => r.join(','))].join('\n') + '\n');
  fs.writeFileSync(
    path.join(dir, 'tags.csv'),
    ['userId,movieId,tag,timestamp', `1,${truth.movies[0].id},funny,1139045764`, `2,${truth.movies[0].id},"quirky, dark",1139045765`, `3,${truth.movies[0].id},Funny,1139045766`].join('\n') + '\n',
  );
  fs.writeFileSync(path.join(dir, 'links.csv'), ['movieId,imdbId,tmdbId', ...truth.movies.map((m, i) => `${m.id},${114709 + i},${i % 5 === 0 ? '' : 862 + i}`)].join('\n') + '\n');
  return truth;
}

/** ML-1M style folder: ratings.dat, movies.dat (ISO-8859-1), users.dat, all '::'-separated. */
export function writeMl1m(dir: string, seed: number, numUsers = 30, numMovies = 25): Truth {
  const rng = new Random(seed);
  const truth = makeTruth(rng, numUsers, numMovies);
  for (const r of truth.ratings) r[2] = Math.ceil(r[2]); // ML-1M has whole stars
  fs.writeFileSync(
    path.join(dir, 'movies.dat'),
    Buffer.from(truth.movies.map((m) => `${m.id}::${m.title}::${m.genres.join('|') || '(no genres listed)'}`).join('\n') + '\n', 'latin1'),
  );
  fs.writeFileSync(path.join(dir, 'ratings.dat'), truth.ratings.map((r) => r.join('::')).join('\n') + '\n');
  const ages = ['1', '18', '25', '35', '45', '50', '56'];
  fs.writeFileSync(
    path.join(dir, 'users.dat'),
    Array.from({ length: numUsers }, (_, u) => `${u + 1}::${u % 2 ? 'M' : 'F'}::${ages[u % ages.length]}::${u % 21}::${10000 + u}`).join('\n') + '\n',
  );
  return truth;
}
