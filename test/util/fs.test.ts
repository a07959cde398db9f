/**
 * The one write path (ts/util/fs.ts) and every writer built on it, under faults: a really full file
 * system and a read-only one (a small tmpfs, when running as root: CI does), and injected faults (any
 * user): a short write followed by ENOSPC, a device that reports writes it did not keep. Each time the
 * old file stays intact, the error is ERR_WRITE naming the path and the reason, and nothing is left over.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { isSemrecError } from '../../ts/errors';
import { createModel, loadModel } from '../../ts/models/registry';
import { EmbeddingCache } from '../../ts/semantic/cache';
import { readEmbeddingFile, writeEmbeddingFile } from '../../ts/semantic/embedding-file';
import { checkCachedArtifact, checkWritable, ownerTag, writeCachedArtifact, writeFileAtomically } from '../../ts/util/fs';
import { injectWriteFault, lyingWrites, shortWriteThenEnospc, useTmpfs } from '../helpers/faults';
import { plantedInteractions } from '../helpers/interactions';
import { useTempDirs } from '../helpers/tempdir';

const tempDir = useTempDirs('semrec-fs-');

function expectWriteError(file: string, reason: RegExp) {
  return (error: unknown) => {
    assert.ok(isSemrecError(error, 'ERR_WRITE'), `expected ERR_WRITE, got ${String(error)}`);
    assert.ok(error.message.includes(file), `the message should name ${file}: ${error.message}`);
    assert.match(error.message, reason);
    return true;
  };
}

/** Names in `dir` other than `keep`: temporaries a failed write must not leave behind. */
function leftovers(dir: string, keep: string[]): string[] {
  return fs.readdirSync(dir).filter((n) => !keep.includes(n));
}

describe('util/fs: writeFileAtomically', () => {
  it('writes every byte, reports size and SHA-256, and leaves no temporary', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'a.bin');
    const data = Buffer.alloc(3_000_000, 7); // several write chunks
    const written = await writeFileAtomically(file, [data.subarray(0, 5), data.subarray(5)]);
    assert.equal(written.bytes, data.length);
    assert.ok(fs.readFileSync(file).equals(data));
    assert.deepEqual(fs.readdirSync(dir), ['a.bin']);
  });

  it('keeps the permissions of the file it replaces', async () => {
    const file = path.join(tempDir(), 'private.md');
    await writeFileAtomically(file, 'v1');
    fs.chmodSync(file, 0o600);
    await writeFileAtomically(file, 'v2');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.readFileSync(file, 'utf8'), 'v2');
  });

  it('continues after a short write, as write(2) allows', async () => {
    const file = path.join(tempDir(), 'a.txt');
    let calls = 0;
    const restore = injectWriteFault((original, fd, buffer, offset, length, position, callback) => {
      calls++;
      original(fd, buffer, offset, Math.min(length, 7), position, callback); // at most 7 bytes per call
    });
    try {
      await writeFileAtomically(file, 'a line longer than seven bytes\n');
    } finally {
      restore();
    }
    assert.equal(fs.readFileSync(file, 'utf8'), 'a line longer than seven bytes\n');
    assert.ok(calls > 4);
  });

  it('on a short write followed by ENOSPC (injected) keeps the old file and fails with ERR_WRITE naming it', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'report.md');
    await writeFileAtomically(file, 'old report\n');
    const restore = shortWriteThenEnospc();
    try {
      await assert.rejects(writeFileAtomically(file, 'new report '.repeat(1000)), expectWriteError(file, /no space left.*ENOSPC/));
    } finally {
      restore();
    }
    assert.equal(fs.readFileSync(file, 'utf8'), 'old report\n');
    assert.deepEqual(leftovers(dir, ['report.md']), []);
  });

  it('catches a device that reports writes it did not keep (injected) by reading the file back', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'x.bin');
    await writeFileAtomically(file, Buffer.from('old'));
    const restore = lyingWrites();
    try {
      await assert.rejects(writeFileAtomically(file, Buffer.alloc(10_000, 1)), expectWriteError(file, /did not keep/));
    } finally {
      restore();
    }
    assert.equal(fs.readFileSync(file, 'utf8'), 'old');
    assert.deepEqual(leftovers(dir, ['x.bin']), []);
  });

  it('a model save that fails (injected ENOSPC) into a new directory leaves nothing behind, the directory included', async () => {
    const parent = tempDir();
    const model = createModel('pop');
    await model.fit(plantedInteractions(3, 20, 15, 5, 1).train);
    const restore = shortWriteThenEnospc();
    try {
      await assert.rejects(model.save(path.join(parent, 'pop')), expectWriteError(path.join(parent, 'pop'), /cannot save the model to.*ENOSPC/));
    } finally {
      restore();
    }
    assert.deepEqual(fs.readdirSync(parent), []);
  });

  it('refuses to write over a directory, and into a path under a file, with ERR_WRITE', async () => {
    const dir = tempDir();
    await assert.rejects(writeFileAtomically(dir, 'x'), expectWriteError(dir, /is a directory/));
    const file = path.join(dir, 'plain');
    fs.writeFileSync(file, 'x');
    await assert.rejects(writeFileAtomically(path.join(file, 'child.txt'), 'x'), (e: unknown) => isSemrecError(e, 'ERR_WRITE'));
  });

  it('checkWritable says before long work that a path cannot be written, and leaves nothing behind', async () => {
    const dir = tempDir();
    await checkWritable(path.join(dir, 'new', 'report.md'));
    assert.deepEqual(fs.readdirSync(path.join(dir, 'new')), []);
    await assert.rejects(checkWritable(dir), expectWriteError(dir, /directory/));
  });

  it('removes temporaries a killed writer left, and never those of a live process', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'f.txt');
    // A real process that has exited: its pid is free (reuse within this test is vanishingly unlikely).
    const child = spawn(process.execPath, ['-e', '0']);
    const deadPid = child.pid!;
    await new Promise((resolve) => child.on('exit', resolve));
    const host = ownerTag().split('-')[0];
    const dead = `f.txt.tmp-${host}-${deadPid}-0-0badc0de`;
    const live = `f.txt.tmp-${host}-${process.ppid}-0-0badc0de`;
    const otherThread = `f.txt.tmp-${host}-${process.pid}-99-0badc0de`; // a worker thread of this process
    const foreign = `f.txt.tmp-00000000-${deadPid}-0-0badc0de`; // another host: its pids mean nothing here
    for (const name of [dead, live, otherThread, foreign]) fs.writeFileSync(path.join(dir, name), 'partial');
    await writeFileAtomically(file, 'whole');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['f.txt', foreign, live, otherThread].sort());
  });
});

describe('util/fs: cached artifacts', () => {
  it('are intact after writing, and damaged after a flipped byte, a cut or a lost checksum file', async () => {
    const file = path.join(tempDir(), 'model.onnx');
    assert.equal((await checkCachedArtifact(file)).state, 'missing');
    await writeCachedArtifact(file, Buffer.alloc(1000, 3));
    assert.equal((await checkCachedArtifact(file)).state, 'intact');
    const bytes = fs.readFileSync(file);
    bytes[500] ^= 1;
    fs.writeFileSync(file, bytes);
    assert.equal((await checkCachedArtifact(file)).state, 'damaged');
    fs.writeFileSync(file, Buffer.alloc(999, 3));
    assert.equal((await checkCachedArtifact(file)).state, 'damaged');
    await writeCachedArtifact(file, Buffer.alloc(1000, 3));
    fs.rmSync(`${file}.sha256`);
    assert.equal((await checkCachedArtifact(file)).state, 'damaged');
  });
});

describe('util/fs: every writer on a full or read-only file system (tmpfs)', function () {
  const tmpfs = useTmpfs(1 << 20);
  const fixture = plantedInteractions(3, 60, 80, 12, 3);

  /** Each writer: makes version `v` of its artifact at `file`, and reads back what is there. */
  const WRITERS: { name: string; write: (file: string, v: number) => Promise<unknown>; read: (file: string) => Promise<unknown> }[] = [
    {
      name: 'writeFileAtomically (reports, sentiment heads, results)',
      write: (file, v) => writeFileAtomically(file, `version ${v}\n`.repeat(v === 1 ? 10 : 60_000)),
      read: async (file) => fs.readFileSync(file, 'utf8').slice(0, 20),
    },
    {
      name: 'writeEmbeddingFile',
      write: (file, v) => writeEmbeddingFile(file, { encoderId: `e${v}` }, [{ name: 'items', data: new Float32Array(v === 1 ? 64 : 200_000).fill(v), cols: 4 }]),
      read: async (file) => (await readEmbeddingFile(file)).encoderId,
    },
    {
      name: 'EmbeddingCache.save',
      write: async (file, v) => {
        const cache = await EmbeddingCache.open(file, { modelId: 'm', dim: 16 });
        for (let i = 0; i < (v === 1 ? 4 : 20_000); i++) cache.set(`text ${v} ${i}`, new Float32Array(16).fill(v));
        await cache.save();
      },
      read: async (file) => {
        const cache = await EmbeddingCache.open(file, { modelId: 'm', dim: 16 });
        return [cache.status, cache.size];
      },
    },
    {
      name: 'writeCachedArtifact (converted ONNX models)',
      write: (file, v) => writeCachedArtifact(file, Buffer.alloc(v === 1 ? 100 : 800_000, v)),
      read: async (file) => [(await checkCachedArtifact(file)).state, fs.statSync(file).size],
    },
    {
      name: 'model.save',
      write: async (dir, v) => {
        const model = createModel('bpr', { epochs: 1, dim: v === 1 ? 4 : 1000 });
        await model.fit(fixture.train);
        await model.save(dir);
      },
      read: async (dir) => {
        const model = await loadModel(dir);
        return [model.name, (model.params as { dim: number }).dim];
      },
    },
  ];

  for (const writer of WRITERS) {
    it(`${writer.name}: a full disk keeps the old version and fails with ERR_WRITE (ENOSPC)`, async function () {
      const fsys = tmpfs(this);
      const file = path.join(fsys.dir, 'artifact');
      await writer.write(file, 1);
      const before = await writer.read(file);
      const listing = () => [...fs.readdirSync(fsys.dir), ...(fs.statSync(file).isDirectory() ? fs.readdirSync(file) : [])].sort();
      const entries = listing();
      fsys.fill(64 * 1024);
      await assert.rejects(writer.write(file, 2), expectWriteError(file, /no space left.*ENOSPC/));
      assert.deepEqual(await writer.read(file), before);
      assert.deepEqual(listing(), [...entries, 'filler'].sort(), 'a failed write left files behind');
    });
  }

  it('checkWritable refuses a size the file system cannot hold, before any work', async function () {
    const fsys = tmpfs(this);
    const file = path.join(fsys.dir, 'items.semb');
    await checkWritable(file, 100_000);
    fsys.fill(50_000);
    await assert.rejects(checkWritable(file, 100_000), expectWriteError(file, /needs at least .* MiB and the file system has .* free/));
    assert.deepEqual(fs.readdirSync(fsys.dir), ['filler']);
  });

  it('names the real reason a directory cannot be made on a read-only file system (EROFS, not ENOENT)', async function () {
    const fsys = tmpfs(this);
    fsys.remount('ro');
    try {
      const file = path.join(fsys.dir, 'new', 'deeper', 'report.md');
      await assert.rejects(writeFileAtomically(file, 'x'), expectWriteError(path.join(fsys.dir, 'new'), /read-only.*EROFS/));
    } finally {
      fsys.remount('rw');
    }
  });

  it('a read-only file system fails every writer with ERR_WRITE (EROFS), the old versions intact', async function () {
    const fsys = tmpfs(this);
    const files = WRITERS.map((w, i) => path.join(fsys.dir, `artifact-${i}`));
    for (const [i, w] of WRITERS.entries()) await w.write(files[i], 1);
    const before = await Promise.all(WRITERS.map((w, i) => w.read(files[i])));
    fsys.remount('ro');
    try {
      for (const [i, w] of WRITERS.entries()) {
        await assert.rejects(w.write(files[i], 2), expectWriteError(files[i], /read-only.*EROFS/), w.name);
      }
      assert.deepEqual(await Promise.all(WRITERS.map((w, i) => w.read(files[i]))), before);
    } finally {
      fsys.remount('rw');
    }
  });
});
