/**
 * The service's durable record of user feedback: a write-ahead log of JSON lines, compacted into a
 * snapshot. An event is acknowledged only after its line is written and fdatasynced (group commit: the
 * events that arrive while one sync runs share the next one), so after a crash (kill -9, power loss) every
 * acknowledged event is found again on restart.
 *
 *   <dir>/snapshot.jsonl          a header line { format, version, lastSeq, events, sha256 } and the events
 *                                 up to lastSeq, one per line; written atomically (temp file, fsync, rename)
 *   <dir>/wal-<firstSeq>.jsonl    segments of events after the snapshot, appended in sequence order
 *
 * Opening reads the snapshot (its SHA-256 checked), then every segment in order, skipping events the
 * snapshot already holds (a crash between writing a snapshot and removing the segments it covers leaves
 * them behind) and dropping a last line cut short by a crash; damage anywhere else refuses to start, naming
 * the file and line, because starting without acknowledged feedback would lose it silently. Appends then go
 * to a fresh segment. Compaction switches appends to a new segment, writes a snapshot of everything before
 * it and removes the old segments; a crash at any point of it leaves either the old or the new snapshot and
 * every segment that holds events the snapshot lacks.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { SemrecError } from '../errors';
import { syncDir, writeFileAtomically } from '../util/fs';
import { JsonLinesAppender, readJsonLines } from '../util/jsonl';

export const FEEDBACK_FORMAT = 'semrec-feedback';
/** Bumped when the layout of the log's records or snapshot changes; other versions are refused. */
export const FEEDBACK_VERSION = 1;
export const SNAPSHOT_FILE = 'snapshot.jsonl';
const SEGMENT = /^wal-(\d{12})\.jsonl$/;
/** Default number of events appended since the last snapshot that triggers a compaction. */
export const DEFAULT_COMPACT_EVERY = 50_000;

/** Signals in [0, 1] a feedback event may carry (the fields of a model's HistoryEvent). */
export const UNIT_SIGNALS = ['sentiment', 'viewing', 'completion'] as const;

/** What a client sends: one interaction of a user with an item, by raw ids. */
export interface FeedbackInput {
  user: string;
  item: string;
  /** Explicit rating on the dataset's own scale. */
  rating?: number;
  /** Review text; kept with the event (models that read reviews get it through their own sentiment). */
  review?: string;
  /** Seconds since the epoch; the time the service received the event when absent. */
  timestamp?: number;
  sentiment?: number;
  viewing?: number;
  completion?: number;
  /** The client's id for this event: a retry with the same id is acknowledged again, never recorded twice. */
  eventId?: string;
}

/** An acknowledged event as the log holds it. */
export interface FeedbackEvent extends FeedbackInput {
  /** Position in the log: 1, 2, 3, ... in the order events were acknowledged. */
  seq: number;
  timestamp: number;
  /** When the service received it (milliseconds since the epoch). */
  receivedAt: number;
}

export interface FeedbackOpenReport {
  /** Events read back (snapshot + segments). */
  events: number;
  fromSnapshot: number;
  fromSegments: number;
  segments: number;
  /** Segment tails cut short by a crash (a record that was being written, never acknowledged). */
  tornTails: number;
}

interface SnapshotHeader {
  format: string;
  version: number;
  lastSeq: number;
  events: number;
  sha256: string;
  createdAt: string;
}

function segmentName(firstSeq: number): string {
  return `wal-${String(firstSeq).padStart(12, '0')}.jsonl`;
}

function damaged(file: string, what: string): SemrecError {
  return new SemrecError(
    `the feedback log is damaged: ${file}: ${what}. Nothing was started, so that no acknowledged feedback is lost; ` +
      'restore the file from a backup, or move the feedback directory away to start without that feedback',
    'ERR_FEEDBACK_CORRUPT',
  );
}

/** Checks one record read back from the log and returns it as an event. */
function checkRecord(value: Record<string, unknown>, where: string): FeedbackEvent {
  const bad = (what: string) => damaged(where, what);
  if (!Number.isSafeInteger(value.seq) || (value.seq as number) < 1) throw bad('seq must be a positive integer');
  if (typeof value.user !== 'string' || typeof value.item !== 'string') throw bad('user and item must be strings');
  if (typeof value.timestamp !== 'number' || !Number.isFinite(value.timestamp)) throw bad('timestamp must be a finite number');
  if (typeof value.receivedAt !== 'number') throw bad('receivedAt must be a number');
  for (const field of ['rating', ...UNIT_SIGNALS] as const) {
    if (value[field] !== undefined && (typeof value[field] !== 'number' || !Number.isFinite(value[field]))) throw bad(`${field} must be a finite number`);
  }
  if (value.review !== undefined && typeof value.review !== 'string') throw bad('review must be a string');
  if (value.eventId !== undefined && typeof value.eventId !== 'string') throw bad('eventId must be a string');
  return value as unknown as FeedbackEvent;
}

/** The event as it is written: fields in a fixed order, absent ones left out. */
function eventRecord(e: FeedbackEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { seq: e.seq, user: e.user, item: e.item };
  for (const field of ['rating', 'review', 'timestamp', ...UNIT_SIGNALS, 'eventId', 'receivedAt'] as const) {
    if (e[field] !== undefined) out[field] = e[field];
  }
  return out;
}

export class FeedbackLog {
  private events: FeedbackEvent[] = [];
  private readonly byUser = new Map<string, FeedbackEvent[]>();
  private readonly byEventId = new Map<string, FeedbackEvent>();
  /** Appends in flight by event id, so a retry racing its original waits for it instead of recording twice. */
  private readonly pendingByEventId = new Map<string, Promise<FeedbackEvent>>();
  private appender!: JsonLinesAppender;
  private segmentFirstSeq = 1;
  /** Last sequence number handed out (acknowledged or in flight). */
  private assignedSeq = 0;
  /** Last sequence number acknowledged (taken into the in-memory views). */
  private takenSeq = 0;
  private snapshotSeq = 0;
  private compacting: Promise<void> | undefined;
  /** Set while compaction opens a new segment: record() waits, so that sequence numbers split cleanly. */
  private rotating: Promise<void> | undefined;
  private closed = false;
  /** Called after each group commit (seconds of write + sync, events in the group). */
  onSync: ((seconds: number, records: number) => void) | undefined;
  /** Called after each compaction: its duration, or the error that stopped it (the log itself stays usable). */
  onCompaction: ((outcome: { seconds: number; lastSeq: number } | { error: Error }) => void) | undefined;

  private constructor(
    readonly dir: string,
    readonly compactEvery: number,
  ) {}

  /** Opens (or creates) the log in `dir`, reading back every acknowledged event. */
  static async open(dir: string, options: { compactEvery?: number } = {}): Promise<{ log: FeedbackLog; report: FeedbackOpenReport }> {
    const compactEvery = options.compactEvery ?? DEFAULT_COMPACT_EVERY;
    if (!Number.isInteger(compactEvery) || compactEvery < 1) {
      throw new SemrecError(`feedback log: compactEvery must be a positive integer, got ${compactEvery}`, 'ERR_OUT_OF_RANGE');
    }
    try {
      await fs.mkdir(dir, { recursive: true });
    } catch (cause) {
      throw new SemrecError(`feedback log: cannot create ${dir}: ${(cause as Error).message}`, 'ERR_WRITE', { cause });
    }
    const log = new FeedbackLog(path.resolve(dir), compactEvery);
    const report = await log.readBack();
    await log.startSegment(log.assignedSeq + 1);
    return { log, report };
  }

  private async readBack(): Promise<FeedbackOpenReport> {
    const report: FeedbackOpenReport = { events: 0, fromSnapshot: 0, fromSegments: 0, segments: 0, tornTails: 0 };
    const snapshotPath = path.join(this.dir, SNAPSHOT_FILE);
    let text: string | undefined;
    try {
      text = await fs.readFile(snapshotPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw damaged(snapshotPath, (error as Error).message);
    }
    if (text !== undefined) {
      const newline = text.indexOf('\n');
      if (newline < 0) throw damaged(snapshotPath, 'it has no header line');
      let header: SnapshotHeader;
      try {
        header = JSON.parse(text.slice(0, newline)) as SnapshotHeader;
      } catch {
        throw damaged(snapshotPath, 'line 1 (the header) is not valid JSON');
      }
      if (header?.format !== FEEDBACK_FORMAT) throw damaged(snapshotPath, 'line 1 is not a semrec feedback snapshot header');
      if (header.version !== FEEDBACK_VERSION) {
        throw new SemrecError(`feedback log: ${snapshotPath} is version ${String(header.version)}; this semrec reads version ${FEEDBACK_VERSION}`, 'ERR_FEEDBACK_CORRUPT');
      }
      const body = text.slice(newline + 1);
      if (createHash('sha256').update(body).digest('hex') !== header.sha256) throw damaged(snapshotPath, 'the SHA-256 of its events does not match its header');
      const lines = body.split('\n').filter((l) => l.length > 0);
      if (lines.length !== header.events) throw damaged(snapshotPath, `it holds ${lines.length} events, its header says ${header.events}`);
      lines.forEach((line, n) => this.take(checkRecord(JSON.parse(line) as Record<string, unknown>, `${snapshotPath} line ${n + 2}`), `${snapshotPath} line ${n + 2}`));
      if (this.assignedSeq !== header.lastSeq) throw damaged(snapshotPath, `its last event is ${this.assignedSeq}, its header says ${header.lastSeq}`);
      this.snapshotSeq = header.lastSeq;
      report.fromSnapshot = lines.length;
    }
    for (const name of await this.segmentNames()) {
      const file = path.join(this.dir, name);
      const before = (await fs.stat(file)).size;
      let records: Record<string, unknown>[] | undefined;
      try {
        records = await readJsonLines(file, 'feedback log: segment');
      } catch (error) {
        throw damaged(file, (error as Error).message);
      }
      if ((await fs.stat(file)).size !== before) report.tornTails++;
      report.segments++;
      (records ?? []).forEach((record, n) => {
        const where = `${file} line ${n + 1}`;
        const event = checkRecord(record, where);
        if (event.seq <= this.snapshotSeq) return; // already in the snapshot (a compaction was cut short)
        this.take(event, where);
        report.fromSegments++;
      });
    }
    report.events = this.events.length;
    return report;
  }

  private async segmentNames(): Promise<string[]> {
    const names = (await fs.readdir(this.dir)).filter((n) => SEGMENT.test(n));
    return names.sort();
  }

  /** Adds an acknowledged event to the in-memory views (sequence numbers strictly increase). */
  private take(event: FeedbackEvent, where: string): void {
    if (event.seq <= this.takenSeq) throw damaged(where, `event ${event.seq} comes after event ${this.takenSeq}`);
    this.takenSeq = event.seq;
    this.assignedSeq = Math.max(this.assignedSeq, event.seq);
    this.events.push(event);
    let list = this.byUser.get(event.user);
    if (!list) this.byUser.set(event.user, (list = []));
    list.push(event);
    if (event.eventId !== undefined) this.byEventId.set(event.eventId, event);
  }

  /** The directory's identity when the log opened it (a directory replaced by a rename has another). */
  private dirId = '';

  private async currentDirId(): Promise<string | undefined> {
    try {
      const st = await fs.stat(this.dir);
      return `${st.dev}:${st.ino}`;
    } catch {
      return undefined;
    }
  }

  /**
   * Makes sure the log still lives in its directory. A model saved again by replacing its whole directory
   * (a rename) takes the old feedback directory with it, and later appends would go to a removed file; if
   * that happened, every acknowledged event (all are in memory) is written into a fresh snapshot in the
   * new directory before appends go on there. Returns whether it had to.
   */
  async ensureLocation(): Promise<boolean> {
    if ((await this.currentDirId()) === this.dirId) return false;
    let release!: () => void;
    while (this.rotating) await this.rotating;
    this.rotating = new Promise<void>((resolve) => (release = resolve));
    try {
      await this.appender.close();
      await fs.mkdir(this.dir, { recursive: true });
      this.dirId = (await this.currentDirId())!;
      this.snapshotSeq = 0;
      await this.startSegment(this.assignedSeq + 1);
      await this.writeSnapshot(this.takenSeq);
    } finally {
      this.rotating = undefined;
      release();
    }
    return true;
  }

  private async startSegment(firstSeq: number): Promise<void> {
    if (!this.dirId) this.dirId = (await this.currentDirId()) ?? '';
    this.appender = await JsonLinesAppender.open(path.join(this.dir, segmentName(firstSeq)));
    this.appender.onSync = (seconds, records) => this.onSync?.(seconds, records);
    this.segmentFirstSeq = firstSeq;
  }

  /** Acknowledged events, in sequence order. */
  get size(): number {
    return this.events.length;
  }

  /** Sequence number of the last acknowledged event (0 when there is none). */
  get lastSeq(): number {
    return this.events.length > 0 ? this.events[this.events.length - 1].seq : 0;
  }

  /** Events acknowledged since the last snapshot. */
  get sinceSnapshot(): number {
    return this.lastSeq - this.snapshotSeq;
  }

  /** Distinct users with feedback. */
  get users(): number {
    return this.byUser.size;
  }

  /** Why appends fail, when the log can no longer take them (a write or sync failed). */
  get error(): SemrecError | undefined {
    return this.appender.error;
  }

  /** The acknowledged events of `user`, in order (empty when there are none). */
  eventsOf(user: string): readonly FeedbackEvent[] {
    return this.byUser.get(user) ?? [];
  }

  /** Acknowledged events with seq > `afterSeq`, in order. */
  eventsAfter(afterSeq: number): readonly FeedbackEvent[] {
    // Events are sorted by seq: binary search for the first one after afterSeq.
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.events[mid].seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return this.events.slice(lo);
  }

  /**
   * Records an event: resolves once it is on disk (then it is acknowledged and visible to eventsOf).
   * An event whose eventId was recorded before is not recorded again: the earlier event comes back with
   * `duplicate: true`.
   */
  async record(input: FeedbackInput, now = Date.now()): Promise<{ event: FeedbackEvent; duplicate: boolean }> {
    while (this.rotating) await this.rotating;
    if (this.closed) throw new SemrecError('the feedback log is closed (the service is shutting down)', 'ERR_WRITE');
    if (input.eventId !== undefined) {
      const known = this.byEventId.get(input.eventId);
      if (known) return { event: known, duplicate: true };
      const pending = this.pendingByEventId.get(input.eventId);
      if (pending) return { event: await pending, duplicate: true };
    }
    const event: FeedbackEvent = {
      ...input,
      seq: ++this.assignedSeq,
      timestamp: input.timestamp ?? now / 1000,
      receivedAt: now,
    };
    const written = this.appender.append(eventRecord(event)).then(() => {
      this.take(event, 'the live log');
      return event;
    });
    if (input.eventId !== undefined) this.pendingByEventId.set(input.eventId, written);
    try {
      await written;
    } catch (error) {
      // Never acknowledged: the number is handed out again after a restart reads the log back.
      throw error;
    } finally {
      if (input.eventId !== undefined) this.pendingByEventId.delete(input.eventId);
    }
    if (this.sinceSnapshot >= this.compactEvery) void this.compact().catch(() => undefined);
    return { event, duplicate: false };
  }

  /**
   * Writes every acknowledged event into the snapshot and removes the segments it covers. Appends go on
   * meanwhile (into a new segment); concurrent calls share one compaction.
   */
  compact(): Promise<void> {
    if (!this.compacting) {
      const started = performance.now();
      this.compacting = this.compactOnce().then(
        () => {
          this.compacting = undefined;
          this.onCompaction?.({ seconds: (performance.now() - started) / 1000, lastSeq: this.snapshotSeq });
          // Events that arrived meanwhile may already call for the next one.
          if (!this.closed && this.sinceSnapshot >= this.compactEvery) void this.compact().catch(() => undefined);
        },
        (error: Error) => {
          this.compacting = undefined;
          this.onCompaction?.({ error });
          throw error;
        },
      );
    }
    return this.compacting;
  }

  private async compactOnce(): Promise<void> {
    if (this.appender.error) throw this.appender.error;
    if (await this.ensureLocation()) return;
    if (this.assignedSeq >= this.segmentFirstSeq) {
      // Switch appends to a new segment. record() waits while it opens and while the old one drains, so
      // no number is handed out meanwhile (every event up to `first - 1` is in the old segments, every
      // later one in the new) and events are acknowledged in order across the switch.
      let release!: () => void;
      this.rotating = new Promise<void>((resolve) => (release = resolve));
      const previous = this.appender;
      try {
        const first = this.assignedSeq + 1;
        const next = await JsonLinesAppender.open(path.join(this.dir, segmentName(first)));
        next.onSync = previous.onSync;
        this.appender = next;
        this.segmentFirstSeq = first;
        await previous.close();
      } finally {
        this.rotating = undefined;
        release();
      }
      if (previous.error) throw previous.error;
    }
    const upTo = this.segmentFirstSeq - 1;
    if (upTo > this.snapshotSeq) await this.writeSnapshot(upTo);
    const current = segmentName(this.segmentFirstSeq);
    for (const name of await this.segmentNames()) {
      if (name !== current) await fs.rm(path.join(this.dir, name), { force: true });
    }
    await syncDir(this.dir);
  }

  /** Writes the acknowledged events up to `upTo` (all of them are: the segment holding them has drained) as the snapshot. */
  private async writeSnapshot(upTo: number): Promise<void> {
    const covered = this.eventsAfter(0).filter((e) => e.seq <= upTo);
    const body = covered.map((e) => `${JSON.stringify(eventRecord(e))}\n`).join('');
    const header: SnapshotHeader = {
      format: FEEDBACK_FORMAT,
      version: FEEDBACK_VERSION,
      lastSeq: upTo,
      events: covered.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      createdAt: new Date().toISOString(),
    };
    await writeFileAtomically(path.join(this.dir, SNAPSHOT_FILE), `${JSON.stringify(header)}\n${body}`);
    await syncDir(this.dir);
    this.snapshotSeq = upTo;
  }

  /** Waits for every append in flight. */
  async drain(): Promise<void> {
    await this.appender.drain();
  }

  /** Drains appends, optionally compacts, and closes the log; later records are refused. */
  async close(options: { compact?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.appender.drain();
    if (this.compacting) await this.compacting.catch(() => undefined);
    if (options.compact && !this.appender.error) await this.compactOnce();
    await this.appender.close();
  }
}
