/**
 * The feedback log's promise: every acknowledged event is read back after a restart, in order, once; a
 * crash can only cut the line being written (never acknowledged); damage anywhere else refuses to start
 * rather than silently losing feedback; compaction at any point leaves every event exactly once.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { isSemrecError } from '../../ts/errors';
import { FeedbackLog, SNAPSHOT_FILE, type FeedbackInput } from '../../ts/server/feedback';
import { JsonLinesAppender } from '../../ts/util/jsonl';
import { useTempDirs } from '../helpers/tempdir';

const tempDir = useTempDirs('semrec-feedback-');

function event(n: number, extra: Partial<FeedbackInput> = {}): FeedbackInput {
  return { user: `u${n % 7}`, item: `i${n % 11}`, rating: 1 + (n % 5), timestamp: 1_700_000_000 + n, ...extra };
}

function segments(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith('wal-')).sort();
}

function expectCorrupt(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(isSemrecError(error, 'ERR_FEEDBACK_CORRUPT'), String(error));
    assert.match((error as Error).message, pattern);
    return true;
  };
}

describe('server/feedback: the write-ahead log', function () {
  this.timeout(60_000);

  it('reads back every acknowledged event after a reopen, in order, with every field', async () => {
    const dir = tempDir();
    const { log } = await FeedbackLog.open(dir);
    const acked = [];
    for (let n = 0; n < 20; n++) acked.push((await log.record(event(n, n === 3 ? { review: 'great "strings"\nand tone', sentiment: 0.9, eventId: 'x' } : {}))).event);
    await log.close();
    const { log: again, report } = await FeedbackLog.open(dir);
    assert.equal(report.events, 20);
    assert.deepEqual(again.eventsAfter(0), acked);
    assert.deepEqual(again.eventsOf('u3').map((e) => e.seq), acked.filter((e) => e.user === 'u3').map((e) => e.seq));
    assert.equal(again.eventsAfter(0)[3].review, 'great "strings"\nand tone');
    await again.close();
  });

  it('gives an event without a timestamp the time it was received', async () => {
    const { log } = await FeedbackLog.open(tempDir());
    const { event: e } = await log.record({ user: 'u', item: 'i' }, 1_800_000_000_000);
    assert.equal(e.timestamp, 1_800_000_000);
    assert.equal(e.receivedAt, 1_800_000_000_000);
    await log.close();
  });

  it('commits concurrent events in groups: one fdatasync serves many, and the file keeps their order', async () => {
    const dir = tempDir();
    const { log } = await FeedbackLog.open(dir);
    let groups = 0;
    log.onSync = () => groups++;
    const results = await Promise.all(Array.from({ length: 300 }, (_, n) => log.record(event(n))));
    assert.deepEqual(results.map((r) => r.event.seq), Array.from({ length: 300 }, (_, n) => n + 1));
    assert.ok(groups < 300, `${groups} syncs for 300 events`);
    await log.close();
    const lines = fs.readFileSync(path.join(dir, segments(dir)[0]), 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => JSON.parse(l).seq), Array.from({ length: 300 }, (_, n) => n + 1));
  });

  it('records an event once however often its eventId is retried, also concurrently and after a restart', async () => {
    const dir = tempDir();
    const { log } = await FeedbackLog.open(dir);
    const answers = await Promise.all([log.record(event(1, { eventId: 'a' })), log.record(event(1, { eventId: 'a' })), log.record(event(2, { eventId: 'b' }))]);
    assert.deepEqual(answers.map((a) => a.duplicate), [false, true, false]);
    assert.equal(answers[1].event.seq, answers[0].event.seq);
    assert.equal(log.size, 2);
    await log.close();
    const { log: again } = await FeedbackLog.open(dir);
    const retry = await again.record(event(1, { eventId: 'a' }));
    assert.equal(retry.duplicate, true);
    assert.equal(again.size, 2);
    await again.close();
  });

  it('drops a last line cut short by a crash (never acknowledged) and keeps everything before it', async () => {
    const dir = tempDir();
    const { log } = await FeedbackLog.open(dir);
    for (let n = 0; n < 5; n++) await log.record(event(n));
    await log.close();
    const segment = path.join(dir, segments(dir)[0]);
    fs.appendFileSync(segment, '{"seq":6,"user":"u6","it');
    const { log: again, report } = await FeedbackLog.open(dir);
    assert.equal(report.tornTails, 1);
    assert.equal(again.size, 5);
    assert.equal((await again.record(event(6))).event.seq, 6);
    await again.close();
  });

  it('refuses to start on a damaged line that is not the last, naming the file and line', async () => {
    const dir = tempDir();
    const { log } = await FeedbackLog.open(dir);
    for (let n = 0; n < 5; n++) await log.record(event(n));
    await log.close();
    const segment = path.join(dir, segments(dir)[0]);
    const lines = fs.readFileSync(segment, 'utf8').split('\n');
    lines[2] = lines[2].replace('"user"', '"us#r');
    fs.writeFileSync(segment, lines.join('\n'));
    await assert.rejects(FeedbackLog.open(dir), expectCorrupt(new RegExp(`${path.basename(segment)}.*line 3`)));
  });

  it('refuses events out of order (a log pieced together wrongly)', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'wal-000000000001.jsonl'), ['{"seq":1,"user":"u","item":"i","timestamp":1,"receivedAt":1}', '{"seq":1,"user":"u","item":"j","timestamp":1,"receivedAt":1}', ''].join('\n'));
    await assert.rejects(FeedbackLog.open(dir), expectCorrupt(/line 2: event 1 comes after event 1/));
  });

  it('compacts into an atomic, checksummed snapshot and removes the segments it covers; appends go on into a new segment', async () => {
    const dir = tempDir();
    const { log } = await FeedbackLog.open(dir);
    for (let n = 0; n < 10; n++) await log.record(event(n));
    await log.compact();
    assert.deepEqual(segments(dir), ['wal-000000000011.jsonl']);
    const header = JSON.parse(fs.readFileSync(path.join(dir, SNAPSHOT_FILE), 'utf8').split('\n')[0]);
    assert.equal(header.lastSeq, 10);
    assert.equal(header.events, 10);
    assert.equal(log.sinceSnapshot, 0);
    for (let n = 10; n < 13; n++) await log.record(event(n));
    await log.close();
    const { log: again, report } = await FeedbackLog.open(dir);
    assert.deepEqual([report.fromSnapshot, report.fromSegments], [10, 3]);
    assert.deepEqual(again.eventsAfter(0).map((e) => e.seq), Array.from({ length: 13 }, (_, n) => n + 1));
    await again.close();
  });

  it('loses nothing and duplicates nothing when events keep arriving during a compaction', async () => {
    const dir = tempDir();
    const { log } = await FeedbackLog.open(dir);
    const first = Array.from({ length: 100 }, (_, n) => log.record(event(n)));
    const compaction = log.compact();
    const during = Array.from({ length: 100 }, (_, n) => log.record(event(100 + n)));
    await Promise.all([...first, compaction, ...during]);
    await log.compact();
    const after = await Promise.all(Array.from({ length: 20 }, (_, n) => log.record(event(200 + n))));
    await log.close();
    const { log: again } = await FeedbackLog.open(dir);
    assert.deepEqual(again.eventsAfter(0).map((e) => e.seq), Array.from({ length: 220 }, (_, n) => n + 1));
    assert.equal(after[19].event.seq, 220);
    await again.close();
  });

  it('reads each event once when a crash left behind segments a snapshot already covers', async () => {
    const dir = tempDir();
    const { log } = await FeedbackLog.open(dir);
    for (let n = 0; n < 8; n++) await log.record(event(n));
    await log.drain();
    const saved = segments(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))] as const);
    await log.compact();
    await log.record(event(8));
    await log.close();
    // As if the process died after writing the snapshot and before removing the segments.
    for (const [f, data] of saved) fs.writeFileSync(path.join(dir, f), data);
    const { log: again } = await FeedbackLog.open(dir);
    assert.deepEqual(again.eventsAfter(0).map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await again.close();
  });

  it('refuses a snapshot whose events do not match its checksum', async () => {
    const dir = tempDir();
    const { log } = await FeedbackLog.open(dir);
    for (let n = 0; n < 4; n++) await log.record(event(n));
    await log.compact();
    await log.close();
    const file = path.join(dir, SNAPSHOT_FILE);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"item":"i2"', '"item":"i3"'));
    await assert.rejects(FeedbackLog.open(dir), expectCorrupt(/snapshot\.jsonl: the SHA-256/));
  });

  it('compacts by itself every compactEvery events', async () => {
    const dir = tempDir();
    const { log } = await FeedbackLog.open(dir, { compactEvery: 5 });
    const compactions: number[] = [];
    let notify = () => {};
    log.onCompaction = (o) => {
      if ('lastSeq' in o) compactions.push(o.lastSeq);
      notify();
    };
    const nextCompaction = () => new Promise<void>((resolve) => (notify = resolve));
    for (let round = 1; round <= 2; round++) {
      const done = nextCompaction();
      for (let n = 0; n < 5; n++) await log.record(event(n));
      await done;
      assert.equal(compactions[round - 1], 5 * round);
      assert.equal(log.sinceSnapshot, 0);
    }
    await log.close();
  });

  it('a write that fails (no space left) rejects its events with ERR_WRITE and every later append too', async function () {
    if (!fs.existsSync('/dev/full')) this.skip();
    const appender = await JsonLinesAppender.open('/dev/full');
    await assert.rejects(appender.append({ a: 1 }), (e: unknown) => isSemrecError(e, 'ERR_WRITE') && /\/dev\/full/.test((e as Error).message));
    await assert.rejects(appender.append({ a: 2 }), (e: unknown) => isSemrecError(e, 'ERR_WRITE'));
    assert.ok(appender.error);
    await appender.close();
  });
});
