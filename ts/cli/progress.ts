/**
 * Progress display for the CLI: a bar on a TTY (cli-progress), plain periodic lines otherwise (logs, CI).
 * Output goes to stderr so stdout stays clean for --json.
 */
import cliProgress from 'cli-progress';

import type { ProgressCallback, ProgressEvent } from '../progress';

/** Minimum time between plain progress lines. */
const PLAIN_INTERVAL_MS = 2000;

/** "loss 0.3121, validation ndcg@10 0.2512" */
export function formatMetrics(metrics: Record<string, number> | undefined): string {
  if (!metrics) return '';
  return Object.entries(metrics)
    .map(([key, value]) => `${key} ${Math.abs(value) >= 1000 || value === 0 ? value.toFixed(0) : value.toPrecision(4)}`)
    .join(', ');
}

export interface ProgressDisplay {
  onProgress: ProgressCallback;
  stop(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr): ProgressDisplay {
  if (stream.isTTY) {
    let bar: cliProgress.SingleBar | undefined;
    let phase = '';
    let started = 0;
    // Our own estimate: cli-progress's ETA reads "NULL" (rendered as garbage) when a step jumps straight
    // to its end or has not moved yet.
    const when = (done: number, total: number | undefined): string => {
      const elapsed = (Date.now() - started) / 1000;
      if (total !== undefined && total > 0 && done >= total) return `done in ${formatSeconds(elapsed)}`;
      if (total === undefined || total <= 0 || done <= 0) return `${formatSeconds(elapsed)} so far`;
      return `${formatSeconds((elapsed * (total - done)) / done)} left`;
    };
    return {
      onProgress(event: ProgressEvent) {
        if (event.phase !== phase || !bar) {
          bar?.stop();
          phase = event.phase;
          bar = new cliProgress.SingleBar(
            {
              stream,
              format: `${event.phase} [{bar}] {percentage}% | {value}/{total} ${event.unit ?? ''} | {when}{metrics}`,
              hideCursor: true,
              clearOnComplete: false,
            },
            cliProgress.Presets.shades_classic,
          );
          started = Date.now();
          bar.start(event.total ?? 0, event.done, { metrics: '', when: when(event.done, event.total) });
        }
        if (event.total !== undefined) bar.setTotal(event.total);
        bar.update(event.done, { metrics: event.metrics ? ` | ${formatMetrics(event.metrics)}` : '', when: when(event.done, event.total) });
      },
      stop() {
        bar?.stop();
      },
    };
  }
  let last = 0;
  let lastPhase = '';
  return {
    onProgress(event: ProgressEvent) {
      const now = Date.now();
      const finished = event.total !== undefined && event.done >= event.total;
      // Steps that report figures (training epochs: loss, validation metric) are a log: every one is shown.
      if (event.phase === lastPhase && !finished && !event.metrics && now - last < PLAIN_INTERVAL_MS) return;
      last = now;
      lastPhase = event.phase;
      const total = event.total !== undefined ? `/${event.total}` : '';
      const percent = event.total ? ` (${((100 * event.done) / event.total).toFixed(1)}%)` : '';
      const figures = event.metrics ? `: ${formatMetrics(event.metrics)}` : '';
      stream.write(`${event.phase}: ${event.done}${total} ${event.unit ?? ''}${percent}${figures}\n`);
    },
    stop() {},
  };
}

/** 42 s, 3m 05s, 1h 02m. */
function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
