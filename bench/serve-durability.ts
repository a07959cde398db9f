/**
 * Kill -9 durability of `semrec serve`'s feedback: clients post /feedback (each event with its own
 * eventId) as fast as the server acknowledges, the server is killed with SIGKILL at a random moment while
 * they do, and restarted, `rounds` times. After each restart every event acknowledged before the kill is
 * sent again: the server must answer 200 "duplicate" with the sequence number it acknowledged (it has the
 * event) and never 201 (it lost it). At the end the log on disk is read directly: every acknowledged
 * eventId once, sequence numbers strictly increasing. Events the kill cut off (no answer) may or may not
 * be there: they were never acknowledged.
 *
 *   npx tsx bench/serve-durability.ts [--rounds 20] [--clients 16] [--compact-every 500]
 * (after `npm run build:ts`: the server runs from dist/). Writes bench/results/serve-durability-<machine>-<date>.json.
 * test/server/durability.test.ts runs the same rounds, fewer of them, as a test.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { FeedbackLog } from '../ts/server/feedback';
import { writeFileAtomically } from '../ts/util/fs';
import { Random } from '../ts/util/random';
import { machine, machineSlug, today } from './harness';
import { request, saveModel, spawnServer, type ServerProcess } from '../test/server/fixtures';

export interface DurabilityOptions {
  modelDir: string;
  /** Raw item ids the model knows (events name them). */
  items: readonly string[];
  rounds: number;
  /** Concurrent clients posting feedback. */
  clients: number;
  /** The kill comes once this many events were acknowledged in the round, times a random factor in [1, 2). */
  ackedBeforeKill: number;
  /** Passed as --compact-every, so that kills also land inside compactions. */
  compactEvery: number;
  seed: number;
  /** Run the server from dist/ rather than from the TypeScript sources. */
  fromDist?: boolean;
  log?: (line: string) => void;
}

export interface DurabilityRound {
  round: number;
  /** Events acknowledged (2xx) in the round before the kill. */
  acknowledged: number;
  /** Requests the kill cut off (no answer): never acknowledged. */
  cutOff: number;
  /** Answers other than 2xx while the server was up (should be none). */
  errors: number;
  /** Milliseconds from the restart's spawn to its ready line (the log read back). */
  restartMs: number;
  /** Events the restarted server reported reading back. */
  readBack: number;
  /** Acknowledged events of the round the restarted server did not have (must be 0). */
  lost: number;
}

export interface DurabilityResult {
  rounds: DurabilityRound[];
  acknowledged: number;
  lost: number;
  /** Events in the final log (acknowledged ones plus cut-off ones that reached the disk). */
  eventsOnDisk: number;
  duplicatedOnDisk: number;
}

const KEY = 'durability';

async function start(options: DurabilityOptions): Promise<{ server: ServerProcess; ms: number }> {
  const started = performance.now();
  const server = await spawnServer(['--model-dir', options.modelDir, '--compact-every', String(options.compactEvery), '--log-level', 'error'], { SEMREC_API_KEY: KEY }, options.fromDist);
  return { server, ms: performance.now() - started };
}

/** Runs the kill/restart rounds; throws (assert) on the first acknowledged event that is missing. */
export async function killRestartRounds(options: DurabilityOptions): Promise<DurabilityResult> {
  const random = new Random(options.seed);
  const acked = new Map<string, number>(); // eventId -> seq acknowledged
  const bodies = new Map<string, object>();
  const rounds: DurabilityRound[] = [];
  let { server, ms } = await start(options);
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const target = Math.floor(options.ackedBeforeKill * (1 + random.float()));
      const ackedThisRound: string[] = [];
      let cutOff = 0;
      let errors = 0;
      let dead = false;
      const url = server.url;
      const clients = Array.from({ length: options.clients }, async (_, c) => {
        for (let n = 0; !dead; n++) {
          const eventId = `r${round}-c${c}-n${n}`;
          const body = { user: `fb-${c}-${n % 13}`, item: options.items[(c * 31 + n) % options.items.length], rating: 1 + (n % 5), eventId };
          let answer;
          try {
            answer = await request<{ seq: number; duplicate: boolean }>(`${url}/feedback`, { body, headers: { 'x-api-key': KEY } });
          } catch {
            cutOff++;
            return; // the server is gone
          }
          if (answer.status === 201 || answer.status === 200) {
            acked.set(eventId, answer.body.seq);
            bodies.set(eventId, body);
            ackedThisRound.push(eventId);
            if (ackedThisRound.length >= target && !dead) {
              dead = true;
              server.child.kill('SIGKILL');
            }
          } else errors++;
        }
      });
      await Promise.all(clients);
      await server.exited;
      ({ server, ms } = await start(options));
      const ready = await request<{ feedback: { events: number } }>(`${server.url}/ready`);
      let lost = 0;
      for (const eventId of ackedThisRound) {
        const again = await request<{ seq: number; duplicate: boolean }>(`${server.url}/feedback`, { body: bodies.get(eventId), headers: { 'x-api-key': KEY } });
        if (again.status !== 200 || !again.body.duplicate || again.body.seq !== acked.get(eventId)) lost++;
      }
      const line: DurabilityRound = { round, acknowledged: ackedThisRound.length, cutOff, errors, restartMs: Math.round(ms), readBack: ready.body.feedback.events, lost };
      rounds.push(line);
      options.log?.(`round ${round}: ${line.acknowledged} acknowledged, ${cutOff} cut off by SIGKILL, ${errors} errors; restarted in ${line.restartMs} ms with ${line.readBack} events; ${lost} lost`);
      assert.equal(lost, 0, `round ${round}: ${lost} acknowledged events were lost`);
    }
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  const { log } = await FeedbackLog.open(path.join(options.modelDir, 'feedback'));
  const events = log.eventsAfter(0);
  await log.close();
  const seen = new Map<string, number>();
  for (let e = 0; e < events.length; e++) {
    if (e > 0) assert.ok(events[e].seq > events[e - 1].seq, 'sequence numbers increase');
    if (events[e].eventId !== undefined) seen.set(events[e].eventId!, (seen.get(events[e].eventId!) ?? 0) + 1);
  }
  let lost = 0;
  for (const [eventId, seq] of acked) if (!events.some((e) => e.eventId === eventId && e.seq === seq)) lost++;
  return {
    rounds,
    acknowledged: acked.size,
    lost,
    eventsOnDisk: events.length,
    duplicatedOnDisk: [...seen.values()].filter((count) => count > 1).length,
  };
}

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

async function main(): Promise<void> {
  const rounds = Number(arg('rounds', '20'));
  const clients = Number(arg('clients', '16'));
  const compactEvery = Number(arg('compact-every', '500'));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-durability-'));
  try {
    const modelDir = path.join(root, 'bpr');
    const model = await saveModel(modelDir);
    const items = Array.from({ length: model.numItems }, (_, i) => model.catalog.item(i).id);
    const started = performance.now();
    const result = await killRestartRounds({ modelDir, items, rounds, clients, ackedBeforeKill: 200, compactEvery, seed: 42, fromDist: true, log: console.log });
    const seconds = (performance.now() - started) / 1000;
    console.log(`${result.acknowledged} events acknowledged over ${rounds} SIGKILLs, ${result.lost} lost; ${result.eventsOnDisk} on disk, ${result.duplicatedOnDisk} recorded twice (${seconds.toFixed(0)} s)`);
    const out = path.join(__dirname, 'results', `serve-durability-${machineSlug()}-${today()}.json`);
    await writeFileAtomically(
      out,
      `${JSON.stringify(
        {
          what: 'semrec serve /feedback under load (concurrent clients, one eventId per event) while the server is killed with SIGKILL and restarted',
          command: `npx tsx bench/serve-durability.ts --rounds ${rounds} --clients ${clients} --compact-every ${compactEvery}`,
          machine: { ...machine(), load: 'busy shared machine (other work running)' },
          date: today(),
          model: 'bpr on the planted test fixture (40 users, 50 items)',
          clients,
          compactEvery,
          seconds,
          ...result,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`-> ${out}`);
    if (result.lost > 0 || result.duplicatedOnDisk > 0) process.exitCode = 1;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
