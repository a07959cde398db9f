/**
 * The Quick start's main job (`semrec quickstart`) end to end on the shared MovieLens-100K, with one epoch
 * per iterative model so that it stays a test: the comparison table and the explained top-10. Pending
 * where ../shared is absent (CI runs `semrec demo` instead; MovieLens cannot be downloaded there).
 */
import assert from 'node:assert/strict';

import { runCli } from '../helpers/cli';
import { requireShared, sharedDataset } from '../helpers/shared';
import { useTempDirs } from '../helpers/tempdir';

const tempDir = useTempDirs('semrec-quickstart-');

describe('semrec quickstart', () => {
  it('compares llmrec with two baselines on ml-100k and explains one user\'s top-10', async function () {
    this.timeout(300_000);
    const ml = sharedDataset('ml-100k');
    requireShared(this, ml);
    const r = await runCli(['quickstart', '--path', ml, '--max-epochs', '1', '--user', '196', '--cache-dir', tempDir()]);
    assert.equal(r.code, 0, r.stderr);
    for (const model of ['pop', 'lightgcn', 'llmrec']) assert.match(r.stdout, new RegExp(`^\\| ${model} \\| 0\\.\\d{4} \\| 0\\.\\d{4} \\|`, 'm'), model);
    assert.match(r.stdout, /at most 1 epochs with early stopping/);
    const picks = r.stdout.split('\n').filter((l) => /^ ?\d+\. .+\(score -?\d/.test(l));
    assert.equal(picks.length, 10, r.stdout);
    assert.equal(r.stdout.split('\n').filter((l) => /^ {6}because of /.test(l)).length, 10);
    assert.match(r.stdout, /Top 10 for user 196/);
  });

  it('refuses a bad --max-epochs, naming it', async () => {
    const r = await runCli(['quickstart', '--max-epochs', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--max-epochs must be a positive integer, got '0'/);
  });
});
