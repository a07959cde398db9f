/**
 * Data-layer benchmark: loads a generated 20-million-row MovieLens `ratings.csv` (the ML-20M shape: ~138k
 * users, ~27k movies, half-star ratings, sorted by user) through loadDataset in a fresh process and reports
 * rows/s and peak RSS; also times loading the shared ml-100k. The CSV is written to a temporary folder
 * (never the repository) and removed afterwards.
 *
 * `npm run bench -- --suite data` (or `npx tsx bench/data-load.ts [--rows N]`); `--quick` uses 200,000 rows.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { loadDataset } from '../ts/data/load';
import { Random } from '../ts/util/random';
import { type BenchContext, type Suite, writeSuiteResults } from './harness';

/** The target size. */
export const FULL_ROWS = 20_000_000;
const QUICK_ROWS = 200_000;
/** ML-20M: 20,000,263 ratings by 138,493 users of 26,744 movies. */
const RATINGS_PER_USER = 144;
const ML20M_MOVIES = 27_278;
const ML100K_RUNS = 5;

const GENRES = [
  'Action', 'Adventure', 'Animation', 'Children', 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
  'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western',
];

/** Writes ratings.csv and movies.csv with `rows` ratings into `dir`; returns the sizes. */
export async function writeRatingsCsv(dir: string, rows: number, seed = 20): Promise<{ rows: number; users: number; movies: number; bytes: number }> {
  const rng = new Random(seed);
  const movies = Math.min(ML20M_MOVIES, Math.max(100, Math.ceil(rows / 700)));
  const moviesOut = fs.createWriteStream(path.join(dir, 'movies.csv'));
  await write(moviesOut, 'movieId,title,genres\n');
  let text = '';
  for (let m = 1; m <= movies; m++) {
    const genres = [GENRES[m % GENRES.length], GENRES[(m * 7) % GENRES.length]].join('|');
    text += m % 3 === 0 ? `${m},"Movie ${m}, The (${1920 + (m % 100)})",${genres}\n` : `${m},Movie ${m} (${1920 + (m % 100)}),${genres}\n`;
  }
  await write(moviesOut, text);
  await close(moviesOut);

  const out = fs.createWriteStream(path.join(dir, 'ratings.csv'));
  await write(out, 'userId,movieId,rating,timestamp\n');
  let written = 0;
  let users = 0;
  text = '';
  for (let u = 1; written < rows; u++) {
    // Per-user counts vary (20 .. 2 x average), distinct movies by a stride through the catalog.
    const count = Math.min(rows - written, rng.int(20, 2 * RATINGS_PER_USER - 20), movies);
    users = u;
    const start = rng.int(0, movies - 1);
    const stride = STRIDES[u % STRIDES.length];
    let time = 822_873_600 + rng.int(0, 600_000_000);
    for (let j = 0; j < count; j++) {
      const movie = ((start + j * stride) % movies) + 1;
      time += rng.int(0, 5000);
      text += `${u},${movie},${rng.int(1, 10) / 2},${time}\n`;
    }
    written += count;
    if (text.length > 1 << 22) {
      await write(out, text);
      text = '';
    }
  }
  await write(out, text);
  await close(out);
  return { rows: written, users, movies, bytes: fs.statSync(path.join(dir, 'ratings.csv')).size };
}

/** Primes larger than any catalog size here, so strides visit distinct movies. */
const STRIDES = [27_281, 27_283, 27_299, 27_329, 27_337];

function write(stream: fs.WriteStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.write(text)) return resolve();
    const onError = (error: Error) => reject(error);
    stream.once('error', onError).once('drain', () => {
      stream.off('error', onError);
      resolve();
    });
  });
}

function close(stream: fs.WriteStream): Promise<void> {
  return new Promise((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

interface ChildResult {
  rows: number;
  interactions: number;
  users: number;
  items: number;
  seconds: number;
  peakRssMiB: number;
  heapUsedMiB: number;
}

async function loadInChild(format: string, datasetPath: string): Promise<ChildResult> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'data-load-child.ts'), format, datasetPath], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout) as ChildResult;
}

async function run(context: BenchContext, rows: number): Promise<Record<string, unknown>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-bench-data-'));
  try {
    let t = process.hrtime.bigint();
    const generated = await writeRatingsCsv(dir, rows);
    context.log(`generated ${generated.rows.toLocaleString('en-US')} ratings (${(generated.bytes / 2 ** 20).toFixed(0)} MiB) in ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(1)} s`);
    const load = await loadInChild('movielens-csv', dir);
    if (load.rows !== generated.rows + generated.movies) throw new Error(`loaded ${load.rows} rows, wrote ${generated.rows + generated.movies}`);
    const ratingsPerSecond = generated.rows / load.seconds;
    context.log(
      `movielens-csv ratings.csv: ${generated.rows.toLocaleString('en-US')} rows in ${load.seconds.toFixed(1)} s = ` +
        `${Math.round(ratingsPerSecond).toLocaleString('en-US')} rows/s, ${(generated.bytes / 2 ** 20 / load.seconds).toFixed(1)} MiB/s; peak RSS ${load.peakRssMiB.toFixed(0)} MiB`,
    );
    const ml100k = path.join(__dirname, '..', '..', 'shared', 'datasets', 'ml-100k');
    const ml100kMs: number[] = [];
    if (fs.existsSync(path.join(ml100k, 'u.data'))) {
      for (let r = 0; r < ML100K_RUNS; r++) {
        t = process.hrtime.bigint();
        await loadDataset({ format: 'ml-100k', path: ml100k });
        ml100kMs.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
      ml100kMs.sort((a, b) => a - b);
      context.log(`ml-100k (100,000 ratings + metadata): median ${ml100kMs[ML100K_RUNS >> 1].toFixed(0)} ms over ${ML100K_RUNS} loads`);
    }
    return {
      note: 'measured on a busy shared machine; one load per run (a fresh process, so peak RSS is the load alone)',
      ratingsCsv: {
        rows: generated.rows,
        users: load.users,
        movies: generated.movies,
        fileMiB: +(generated.bytes / 2 ** 20).toFixed(1),
        seconds: +load.seconds.toFixed(2),
        rowsPerSecond: Math.round(ratingsPerSecond),
        peakRssMiB: Math.round(load.peakRssMiB),
        heapUsedMiB: Math.round(load.heapUsedMiB),
      },
      ml100k: ml100kMs.length > 0 ? { medianMs: +ml100kMs[ML100K_RUNS >> 1].toFixed(1), runs: ML100K_RUNS } : 'ml-100k not present',
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const dataLoadSuite: Suite = {
  name: 'data',
  description: `load a generated ${FULL_ROWS.toLocaleString('en-US')}-row MovieLens ratings.csv (rows/s, peak RSS) and ml-100k`,
  run: (context) => run(context, context.quick ? QUICK_ROWS : FULL_ROWS),
};

if (require.main === module) {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--rows');
  const rows = at >= 0 ? Number(argv[at + 1]) : argv.includes('--quick') ? QUICK_ROWS : FULL_ROWS;
  const quick = rows !== FULL_ROWS;
  run({ quick, log: (line) => console.log(line) }, rows)
    .then(async (results) => console.log(`-> ${await writeSuiteResults('data', results, quick)}`))
    .catch((error) => {
      console.error(error);
      process.exitCode = 1;
    });
}
