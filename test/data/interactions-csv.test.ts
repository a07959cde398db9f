import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { isDatasetError } from '../../ts/data/errors';
import { loadDataset } from '../../ts/data/load';
import { isSemrecError } from '../../ts/errors';
import { useTempDirs } from '../helpers/tempdir';

describe('data: interactions-csv loader', () => {
  const tempDir = useTempDirs();
  const write = (name: string, text: string) => {
    const file = path.join(tempDir(), name);
    fs.writeFileSync(file, text);
    return file;
  };

  it('maps columns by header name, with ISO-8601 times and review text', async () => {
    const file = write('events.tsv', 'when\tstars\twho\twhat\tnote\n2020-01-02T03:04:05Z\t4.5\talice\tbook-1\t"great, really"\n2020-01-01\t2\tbob\tbook-2\t\n');
    const s = await loadDataset({
      format: 'interactions-csv',
      path: file,
      delimiter: '\t',
      columns: { user: 'who', item: 'what', rating: 'stars', timestamp: 'when', review: 'note' },
    });
    assert.equal(s.name, 'events');
    assert.deepEqual(Array.from(s.userIdx, (u) => s.userIds.raw(u)), ['alice', 'bob']);
    assert.deepEqual(Array.from(s.rating), [4.5, 2]);
    assert.deepEqual(Array.from(s.timestamp), [Date.UTC(2020, 0, 2, 3, 4, 5) / 1000, Date.UTC(2020, 0, 1) / 1000]);
    assert.deepEqual(s.review, ['great, really', undefined]);
  });

  it('maps columns by index in a file without header; milliseconds are recognised', async () => {
    const file = write('clicks.csv', 'u1,i1,1600000000000\nu1,i2,1600000001000\nu2,i1,1600000002000\n');
    const s = await loadDataset({ format: 'interactions-csv', path: file, header: false, columns: { user: 0, item: 1, timestamp: 2 } });
    assert.equal(s.numInteractions, 3);
    assert.ok(s.rating.every((r) => Number.isNaN(r)), 'no rating column: implicit');
    assert.deepEqual(Array.from(s.timestamp), [1600000000, 1600000001, 1600000002]);
  });

  it('refuses a missing columns mapping, or a header name the file lacks', async () => {
    const file = write('x.csv', 'a,b\n1,2\n');
    await assert.rejects(loadDataset({ format: 'interactions-csv', path: file }), (e) => isSemrecError(e, 'ERR_INVALID_ARG_TYPE'));
    await assert.rejects(loadDataset({ format: 'interactions-csv', path: file, columns: { user: 'a', item: 'c' } }), (e) => isDatasetError(e, 'ERR_DATASET_FORMAT') && e.line === 1 && /no column 'c'/.test(e.message));
    await assert.rejects(loadDataset({ format: 'interactions-csv', path: file, header: false, columns: { user: 'a', item: 1 } }), (e) => isSemrecError(e, 'ERR_INVALID_ARG_VALUE'));
  });

  it('a row with a field missing, a bad rating or a bad time is a located ERR_DATASET_PARSE', async () => {
    const columns = { user: 'u', item: 'i', rating: 'r', timestamp: 't' };
    const bad = [
      ['u,i,r,t\na,b,1,5\nc,d,2\n', 3, 4], // the 4th field is missing
      ['u,i,r,t\na,b,1,5\nc,d,high,6\n', 3, 3],
      ['u,i,r,t\na,b,1,5\n\nc,d,2,yesterday\n', 4, 4],
    ] as const;
    for (const [text, line, column] of bad) {
      await assert.rejects(loadDataset({ format: 'interactions-csv', path: write('b.csv', text), columns }), (e) => isDatasetError(e, 'ERR_DATASET_PARSE') && e.line === line && e.column === column, text);
    }
  });

  it('honours ratingRange', async () => {
    const file = write('r.csv', 'u,i,r\na,b,6\n');
    await assert.rejects(loadDataset({ format: 'interactions-csv', path: file, columns: { user: 'u', item: 'i', rating: 'r' }, ratingRange: [1, 5] }), (e) => isDatasetError(e, 'ERR_DATASET_PARSE'));
  });

  it("a CRLF file with a BOM reads like a plain one, and onError 'skip' counts the bad rows", async () => {
    const file = write('crlf.csv', '\ufeffu,i,r\r\na,x,1\r\nb,y,oops\r\nc,z,3\r\n');
    const s = await loadDataset({ format: 'interactions-csv', path: file, columns: { user: 'u', item: 'i', rating: 'r' }, onError: 'skip' });
    assert.deepEqual(Array.from(s.rating), [1, 3]);
    assert.deepEqual(s.load!.skippedRows.map((r) => [r.line, r.column, r.field]), [[3, 3, 'r']]);
  });

  it('invalid UTF-8 is ERR_DATASET_ENCODING unless the file is declared Latin-1', async () => {
    const file = path.join(tempDir(), 'latin.csv');
    fs.writeFileSync(file, Buffer.concat([Buffer.from('u,i\nJos'), Buffer.of(0xe9), Buffer.from(',film\n')]));
    await assert.rejects(loadDataset({ format: 'interactions-csv', path: file, columns: { user: 'u', item: 'i' } }), (e) => isDatasetError(e, 'ERR_DATASET_ENCODING') && e.line === 2 && e.column === 4);
    const s = await loadDataset({ format: 'interactions-csv', path: file, columns: { user: 'u', item: 'i' }, encoding: 'latin1' });
    assert.equal(s.userIds.raw(0), 'José');
  });

  it('an empty file is ERR_DATASET_EMPTY', async () => {
    await assert.rejects(loadDataset({ format: 'interactions-csv', path: write('e.csv', ''), columns: { user: 'u', item: 'i' } }), (e) => isDatasetError(e, 'ERR_DATASET_EMPTY'));
  });
});
