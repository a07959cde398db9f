/**
 * The small self-verifying files of batch state (spec, shard results): read back only when whole and of
 * the expected kind; typed arrays travel inside them exactly (NaN included).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { fromBase64, readCheckedJson, toBase64, writeCheckedJson } from '../../ts/distributed/checked-file';
import { connectRedis } from '../../ts/distributed/redis';
import { isSemrecError } from '../../ts/errors';
import { freePort } from '../helpers/redis';
import { useTempDirs } from '../helpers/tempdir';

describe('distributed: checked files and connections', () => {
  const tempDir = useTempDirs('semrec-checked-');

  it('reads back what was written, and undefined for a file that does not exist', async () => {
    const file = path.join(tempDir(), 'state.json');
    await writeCheckedJson(file, 'test-kind', { a: 1, b: ['x'] });
    assert.deepEqual(await readCheckedJson(file, 'test-kind'), { a: 1, b: ['x'] });
    assert.equal(await readCheckedJson(path.join(tempDir(), 'absent.json'), 'test-kind'), undefined);
    assert.equal(await readCheckedJson(path.join(file, 'batch.json'), 'test-kind'), undefined, 'a file where a folder was expected is no file either');
  });

  it('refuses a file cut short, altered, or of another kind', async () => {
    const file = path.join(tempDir(), 'state.json');
    await writeCheckedJson(file, 'test-kind', { values: [1, 2, 3] });
    const bytes = fs.readFileSync(file);
    const cases: [Buffer, RegExp][] = [
      [bytes.subarray(0, bytes.length - 2), /checksum mismatch/],
      [Buffer.from(bytes.toString().replace('[1,2,3]', '[1,2,4]')), /checksum mismatch/],
      [Buffer.from('not a header\n{}'), /header line is not JSON/],
    ];
    for (const [damaged, why] of cases) {
      fs.writeFileSync(file, damaged);
      await assert.rejects(readCheckedJson(file, 'test-kind'), (e: unknown) => isSemrecError(e, 'ERR_SHARD_CORRUPT') && why.test(e.message));
    }
    await writeCheckedJson(file, 'other-kind', {});
    await assert.rejects(readCheckedJson(file, 'test-kind'), /holds 'other-kind', expected 'test-kind'/);
  });

  it('carries float64 vectors exactly, NaN and -0 included', () => {
    const values = Float64Array.from([0.1, NaN, -0, 1e-300, Math.PI]);
    const back = fromBase64(toBase64(values), Float64Array, 'test');
    assert.deepEqual([...back].map(String), [...values].map(String));
    assert.ok(Object.is(back[2], -0));
  });

  it('names the URL when Redis cannot be reached, at once', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    await assert.rejects(connectRedis(url), (e: unknown) => isSemrecError(e, 'ERR_REDIS_UNAVAILABLE') && e.message.includes(`cannot reach Redis at ${url}`));
    await assert.rejects(connectRedis('http://localhost:6379'), /must start with redis:\/\/ or rediss:\/\//);
  });
});
