/**
 * How long-running library work reports progress and is cancelled. Library code never prints: it calls
 * `onProgress` and checks `signal`; the CLI turns these into a progress bar and Ctrl-C handling.
 */
import { SemrecError } from './errors';

export interface ProgressEvent {
  /** What is being done, e.g. "encoding item texts". */
  phase: string;
  /** Units done so far. */
  done: number;
  /** Units in all, when known. */
  total?: number;
  /** The unit, e.g. "rows", "texts", "epochs". */
  unit?: string;
  /** Figures of the step just done, e.g. { loss: 0.31, 'validation ndcg@10': 0.24 } after a training epoch. */
  metrics?: Record<string, number>;
}

export type ProgressCallback = (event: ProgressEvent) => void;

/** Options every long-running operation accepts. */
export interface LongRunningOptions {
  onProgress?: ProgressCallback;
  /** Aborting it stops the work at the next safe point with an ERR_ABORTED SemrecError; nothing half-written is left. */
  signal?: AbortSignal;
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new SemrecError(`${what} was aborted`, 'ERR_ABORTED', { cause: signal.reason });
}
