import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { isSemrecError } from '../../ts/errors';
import { readEmbeddingFile, writeEmbeddingFile } from '../../ts/semantic/embedding-file';
import { freshSeed, Random, uniformScores } from '../helpers/random';

describe('semantic/embedding-file', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-embfile-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads back every section, its ids and the encoder id exactly', async () => {
    const rng = new Random(freshSeed());
    const items = uniformScores(rng, 5 * 3);
    const scores = uniformScores(rng, 7);
    const file = path.join(dir, 'x.semb');
    await writeEmbeddingFile(file, { encoderId: 'enc@1', meta: { dataset: 'd' } }, [
      { name: 'items', data: items, cols: 3, rowIds: ['a', 'b', 'c', 'd', 'é'] },
      { name: 'sentiment', data: scores, cols: 1 },
    ]);
    const read = await readEmbeddingFile(file);
    assert.equal(read.encoderId, 'enc@1');
    assert.deepEqual(read.meta, { dataset: 'd' });
    assert.deepEqual(Array.from(read.sections.get('items')!.data), Array.from(items));
    assert.deepEqual(read.sections.get('items')!.rowIds, ['a', 'b', 'c', 'd', 'é']);
    assert.deepEqual(Array.from(read.sections.get('sentiment')!.data), Array.from(scores));
  });

  it('detects a corrupted byte in the vectors', async () => {
    const file = path.join(dir, 'x.semb');
    await writeEmbeddingFile(file, { encoderId: 'e' }, [{ name: 'v', data: new Float32Array(12).fill(0.5), cols: 4 }]);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 5] ^= 0x40;
    fs.writeFileSync(file, bytes);
    await assert.rejects(readEmbeddingFile(file), (e: unknown) => isSemrecError(e, 'ERR_MODEL_FORMAT') && /checksum/.test((e as Error).message));
  });

  it('detects a changed row count in the header (one bit turns "rows":1682 into 1680)', async () => {
    const file = path.join(dir, 'x.semb');
    await writeEmbeddingFile(file, { encoderId: 'e' }, [{ name: 'items', data: new Float32Array(1682 * 2).fill(0.5), cols: 2 }]);
    const bytes = fs.readFileSync(file);
    const at = bytes.indexOf('"rows":1682') + '"rows":168'.length;
    assert.equal(String.fromCharCode(bytes[at]), '2');
    bytes[at] ^= 0x02; // '2' -> '0'
    fs.writeFileSync(file, bytes);
    await assert.rejects(readEmbeddingFile(file), (e: unknown) => isSemrecError(e, 'ERR_MODEL_FORMAT') && /checksum/.test((e as Error).message));
  });

  it('refuses a version 1 file (no header checksum), saying to write it again', async () => {
    const file = path.join(dir, 'x.semb');
    await writeEmbeddingFile(file, { encoderId: 'e' }, [{ name: 'v', data: new Float32Array(4), cols: 4 }]);
    const bytes = fs.readFileSync(file);
    bytes.writeUInt32LE(1, 8);
    fs.writeFileSync(file, bytes);
    await assert.rejects(readEmbeddingFile(file), (e: unknown) => isSemrecError(e, 'ERR_MODEL_FORMAT') && /version 1 from an earlier semrec.*semrec embed/.test((e as Error).message));
  });

  it('rejects sections whose size is not rows x cols, naming the section', async () => {
    await assert.rejects(writeEmbeddingFile(path.join(dir, 'y.semb'), { encoderId: 'e' }, [{ name: 'odd', data: new Float32Array(7), cols: 3 }]), /odd/);
  });
});
