import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { invalidUtf8Offsets, locateOffsets, Utf8Guard } from '../../ts/data/io';
import { freshSeed, Random } from '../helpers/random';
import { useTempDirs } from '../helpers/tempdir';

/** Byte strings that are mostly valid UTF-8 with random damage: ASCII, 2-4 byte characters, stray bytes. */
function damagedUtf8(rng: Random, length: number): Buffer {
  const parts: Buffer[] = [];
  let n = 0;
  while (n < length) {
    const kind = rng.int(0, 9);
    let part: Buffer;
    if (kind < 5) part = Buffer.from(String.fromCharCode(rng.int(32, 126)));
    else if (kind < 8) part = Buffer.from(String.fromCodePoint([rng.int(0x80, 0x7ff), rng.int(0x800, 0xd7ff), rng.int(0x10000, 0x10ffff)][rng.int(0, 2)]));
    else part = Buffer.of(rng.int(0x80, 0xff)); // a lone continuation or lead byte, or an invalid byte
    if (rng.int(0, 20) === 0) part = part.subarray(0, Math.max(1, part.length - 1)); // a cut character
    parts.push(part);
    n += part.length;
  }
  return Buffer.concat(parts);
}

function decodes(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

describe('data: UTF-8 validation', () => {
  it('finds an invalid sequence exactly when TextDecoder (fatal) rejects the bytes', () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    for (let t = 0; t < 2000; t++) {
      const bytes = damagedUtf8(rng, rng.int(0, 12));
      const bad = invalidUtf8Offsets(bytes);
      assert.equal(bad.length === 0, decodes(bytes), `seed ${seed}, bytes ${bytes.toString('hex')}`);
      // everything before the first reported offset decodes
      if (bad.length > 0) assert.ok(decodes(bytes.subarray(0, bad[0])), `seed ${seed}, prefix of ${bytes.toString('hex')}`);
    }
  });

  it('rejects overlong forms, surrogates and code points above U+10FFFF', () => {
    for (const hex of ['c0af', 'e080af', 'eda080', 'f4908080', 'f880808080', 'ff']) {
      assert.deepEqual(invalidUtf8Offsets(Buffer.from(`41${hex}`, 'hex')).slice(0, 1), [1], hex);
    }
  });

  it('gives the same offsets whether the bytes come whole or in chunks that split characters', () => {
    const seed = freshSeed();
    const rng = new Random(seed);
    for (let t = 0; t < 300; t++) {
      const bytes = damagedUtf8(rng, rng.int(1, 200));
      const whole = invalidUtf8Offsets(bytes);
      const guard = new Utf8Guard();
      const found: number[] = [];
      for (let offset = 0; offset < bytes.length; ) {
        const size = rng.int(1, 7);
        found.push(...guard.check(bytes.subarray(offset, offset + size), offset));
        offset += size;
      }
      found.push(...guard.finish());
      // A character cut by the end of the stream is one invalid sequence either way.
      assert.deepEqual(found, whole, `seed ${seed}, bytes ${bytes.toString('hex')}`);
    }
  });
});

describe('data: locating byte offsets', () => {
  const tempDir = useTempDirs();

  it('gives 1-based line and character column for offsets, in any order', async () => {
    const file = path.join(tempDir(), 'x.txt');
    fs.writeFileSync(file, 'ab\ncdé f\n\nxyz');
    const text = fs.readFileSync(file);
    const at = (s: string) => text.indexOf(Buffer.from(s));
    const located = await locateOffsets({ path: file, name: 'x.txt' }, [at('f'), 0, at('y'), at('c')], 'utf-8');
    assert.deepEqual(located, [
      { line: 2, column: 5 }, // 'é' is one character of two bytes
      { line: 1, column: 1 },
      { line: 4, column: 2 },
      { line: 2, column: 1 },
    ]);
  });
});
