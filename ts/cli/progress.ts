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
    return {
      onProgress(event: ProgressEvent) {
        if (event.phase !== phase || !bar) {
          bar?.stop();
          phase = event.phase;
          bar = new cliProgress.SingleBar(
            {
              stream,
              format: `${event.phase} [{bar}] {percentage}% | {value}/{total} ${event.unit ?? ''} | {eta_formatted} left{metrics}`,
              hideCursor: true,
              clearOnComplete: false,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(event.total ?? 0, event.done, { metrics: '' });
        }
        if (event.total !== undefined) bar.setTotal(event.total);
        bar.update(event.done, { metrics: event.metrics ? ` | ${formatMetrics(event.metrics)}` : '' });
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
