/**
 * The scalability study (Figure 7): the generated datasets it runs on, the growth exponents it reports,
 * and the study itself end to end on small sizes, with real child processes, resumption from the cells
 * log and cells left out by the budget.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { GENERATED_GENRES, generateDataset, generatedShape, SHAPE } from '../../ts/data/generate';
import { isSemrecError } from '../../ts/errors';
import { measureCell } from '../../ts/experiments/scalability-cell';
import { logLogSlope, runScalability, type CellSpec } from '../../ts/experiments/scalability';
import { runCli } from '../helpers/cli';
import { useTempDirs } from '../helpers/tempdir';

const tempDir = useTempDirs('semrec-scalability-');

describe('generated datasets', () => {
  it('have exactly the interactions asked for, users and items growing with them, and are the same for a seed', () => {
    const a = generateDataset({ interactions: 20_000, seed: 7 });
    const b = generateDataset({ interactions: 20_000, seed: 7 });
    const c = generateDataset({ interactions: 20_000, seed: 8 });
    assert.equal(a.numInteractions, 20_000);
    assert.deepEqual({ numUsers: a.numUsers, numItems: a.numItems }, generatedShape(20_000));
    assert.ok(generatedShape(1_000_000).numUsers > generatedShape(100_000).numUsers * 9);
    assert.ok(generatedShape(1_000_000).numItems > generatedShape(100_000).numItems * 3);
    assert.deepEqual(a.itemIdx, b.itemIdx);
    assert.deepEqual(a.rating, b.rating);
    assert.deepEqual(a.items.text.description, b.items.text.description);
    assert.notDeepEqual(a.itemIdx, c.itemIdx);
  });

  it('give every user at least the 5-core minimum, no repeated item, ratings 1..5 and times in order', () => {
    const s = generateDataset({ interactions: 20_000, seed: 3 });
    const groups = s.byUser();
    for (let u = 0; u < s.numUsers; u++) {
      const rows = Array.from(groups.interactions.subarray(groups.indptr[u], groups.indptr[u + 1]));
      assert.ok(rows.length >= SHAPE.minPerUser, `user ${u} has ${rows.length}`);
      assert.equal(new Set(rows.map((e) => s.itemIdx[e])).size, rows.length, `user ${u} repeats an item`);
      for (const e of rows) assert.ok(Number.isInteger(s.rating[e]) && s.rating[e] >= 1 && s.rating[e] <= 5);
    }
    for (let e = 1; e < s.numInteractions; e++) {
      if (s.userIdx[e] === s.userIdx[e - 1]) assert.ok(s.timestamp[e] >= s.timestamp[e - 1]);
    }
  });

  it('have a long tail and genre tastes: popular items dominate, and a user mostly keeps to a few genres', () => {
    const s = generateDataset({ interactions: 50_000, seed: 5 });
    const counts = new Array<number>(s.numItems).fill(0);
    for (const i of s.itemIdx) counts[i]++;
    counts.sort((x, y) => y - x);
    const top10 = counts.slice(0, Math.ceil(s.numItems / 10)).reduce((x, y) => x + y, 0);
    assert.ok(top10 / s.numInteractions > 0.3, `the top 10% of items hold ${top10 / s.numInteractions} of interactions`);
    // Share of each user's interactions in the user's two most frequent genres: far above the ~2/18 of chance.
    const groups = s.byUser();
    let inTop = 0;
    for (let u = 0; u < s.numUsers; u++) {
      const byGenre = new Map<string, number>();
      const rows = groups.interactions.subarray(groups.indptr[u], groups.indptr[u + 1]);
      for (const e of rows) for (const g of s.items.genres[s.itemIdx[e]]) byGenre.set(g, (byGenre.get(g) ?? 0) + 1);
      const top = [...byGenre.values()].sort((x, y) => y - x).slice(0, 2);
      inTop += Math.min(rows.length, top.reduce((x, y) => x + y, 0)) / rows.length;
    }
    assert.ok(inTop / s.numUsers > 0.6, `mean share in the top two genres ${inTop / s.numUsers}`);
    assert.ok(s.items.genres.every((g) => g.length >= 1 && g.every((x) => (GENERATED_GENRES as readonly string[]).includes(x))));
    assert.ok(s.items.title.every((t) => typeof t === 'string' && /\(\d{4}\)$/.test(t)));
    assert.ok(s.items.text.description.every((t) => typeof t === 'string' && t.length > 40));
  });

  it('refuses sizes it cannot generate, naming the argument', () => {
    for (const bad of [999, 1.5, Number.NaN]) {
      assert.throws(() => generateDataset({ interactions: bad }), (e: unknown) => isSemrecError(e) && e.code === 'ERR_INVALID_ARG_VALUE' && /interactions/.test(e.message));
    }
  });
});

describe('scalability study', () => {
  it('fits growth exponents on log-log axes', () => {
    const points = [1e3, 1e4, 1e5].map((x) => ({ x, y: 3 * x ** 1.5 }));
    assert.ok(Math.abs(logLogSlope(points) - 1.5) < 1e-9);
    assert.ok(Math.abs(logLogSlope([1e3, 1e5].map((x) => ({ x, y: 42 })))) < 1e-12);
  });

  it('measures each cell in a child process, writes the report and figure, and resumes from its cells log', async function () {
    this.timeout(300_000);
    const out = tempDir();
    const options = { sizes: [4000, 2000], models: ['pop', 'bpr'] as const, requests: 30, out };
    const report = await runScalability({ ...options, models: [...options.models] });
    assert.deepEqual(report.settings.sizes, [2000, 4000], 'sizes run smallest first');
    assert.equal(report.cells.length, 4);
    for (const cell of report.cells) {
      assert.equal(cell.status, 'measured', cell.reason);
      const r = cell.result!;
      assert.equal(r.interactions, cell.spec.interactions);
      assert.ok(r.fitSeconds > 0 && r.allUsersSeconds > 0 && r.requestP50Ms > 0 && r.requestP99Ms >= r.requestP50Ms);
      assert.ok(r.peakRssMiB >= r.datasetRssMiB && r.datasetRssMiB > 10, 'peak RSS is the child process\'s own');
      assert.equal(r.epochs, cell.spec.model === 'bpr' ? 2 : 0);
    }
    assert.ok(report.slopes.some((s) => s.model === 'bpr' && s.metric === 'allUsersSeconds' && s.points === 2));
    for (const ext of ['md', 'json', 'svg', 'png']) assert.ok(fs.statSync(path.join(out, `scalability.${ext}`)).size > 0, ext);
    assert.match(fs.readFileSync(path.join(out, 'scalability.md'), 'utf8'), /\| 4,000 \| 40 \| 316 \| bpr \|/);
    // A rerun with the same settings measures nothing again.
    const again = await runScalability({
      ...options,
      models: [...options.models],
      runCell: () => Promise.reject(new Error('a logged cell was measured again')),
    });
    assert.deepEqual(again.cells.map((c) => c.result), report.cells.map((c) => c.result));
  });

  it('leaves out a cell predicted to exceed the budget, saying so, without extrapolating a figure', async function () {
    this.timeout(120_000);
    const ran: CellSpec[] = [];
    const out = tempDir();
    const report = await runScalability({
      sizes: [2000, 4000, 4_000_000],
      models: ['bpr'],
      requests: 10,
      budgetSeconds: 5,
      out,
      runCell: (spec) => {
        ran.push(spec);
        return measureCell(spec);
      },
    });
    assert.deepEqual(ran.map((s) => s.interactions), [2000, 4000]);
    const skipped = report.cells[2];
    assert.equal(skipped.status, 'skipped');
    assert.equal(skipped.result, undefined);
    assert.match(skipped.reason!, /predicted .* over the 5 s budget/);
    assert.match(fs.readFileSync(path.join(out, 'scalability.md'), 'utf8'), /\| 4,000,000 \| 40,000 \| 10,000 \| bpr \| skipped: not run/);
  });

  it('the command refuses an unknown experiment and a device models do not run on', async () => {
    const unknown = await runCli(['experiment', 'table99']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown experiment 'table99' \(known: scalability/);
    const cuda = await runCli(['experiment', 'scalability', '--device', 'cuda', '--out', tempDir()]);
    assert.equal(cuda.code, 1);
    assert.match(cuda.stderr, /ERR_CUDA_UNAVAILABLE/);
  });
});
