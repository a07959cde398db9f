/**
 * What /feedback promises: an acknowledged event survives the server being killed with SIGKILL at any
 * moment (here: while concurrent clients post events and the log compacts every 40 events), and an event
 * is on disk once however often a client retries it. The same rounds as bench/serve-durability.ts, fewer.
 */
import assert from 'node:assert/strict';
import path from 'node:path';

import { killRestartRounds } from '../../bench/serve-durability';
import { useTempDirs } from '../helpers/tempdir';
import { saveModel, store } from './fixtures';

const tempDir = useTempDirs('semrec-serve-kill-');

describe('server: kill -9 durability of acknowledged feedback', function () {
  // Three server starts from the TypeScript sources (a few seconds each on a busy 2-core machine).
  this.timeout(120_000);

  it('loses no acknowledged event over 3 SIGKILLs under concurrent load, and records none twice', async () => {
    const modelDir = path.join(tempDir(), 'bpr');
    await saveModel(modelDir);
    const items = Array.from({ length: store.numItems }, (_, i) => store.itemIds.raw(i));
    const result = await killRestartRounds({ modelDir, items, rounds: 3, clients: 8, ackedBeforeKill: 60, compactEvery: 40, seed: 7 });
    assert.ok(result.rounds.every((r) => r.acknowledged >= 60 && r.errors === 0), JSON.stringify(result.rounds));
    assert.equal(result.lost, 0);
    assert.equal(result.duplicatedOnDisk, 0);
    assert.ok(result.eventsOnDisk >= result.acknowledged, `${result.eventsOnDisk} events on disk, ${result.acknowledged} acknowledged`);
  });
});
