/**
 * The one resumable HTTP download of semrec (datasets and models): GET a URL into a partial file,
 * resuming with a Range request from the bytes already there, streaming chunks to disk as they arrive
 * (whatever arrived survives an interruption) with progress and cancellation. Callers decide whether a
 * partial file may be resumed (same content: ETag, If-Range) and verify and rename the finished file.
 * Node's built-in fetch (undici) does the HTTP.
 */
import fs from 'node:fs';

import { SemrecError } from '../errors';
import { type LongRunningOptions, throwIfAborted } from '../progress';

export interface ResumableGetOptions extends LongRunningOptions {
  /** Extra request headers (authorisation, user agent). */
  headers?: Record<string, string>;
  /** Resume from the partial file's bytes (false: start over). */
  resume: boolean;
  /** Sent as If-Range: a server whose content changed answers 200 with the whole file instead of a range. */
  ifRange?: string;
  /** The complete size when known: a partial file larger than it is discarded, a short body is an error. */
  expectedSize?: number;
  /** Names the download in progress events and messages. */
  label: string;
  /**
   * Called once the response headers are in, before any byte is written: the place to record the
   * validator of what is about to be stored (an interruption after this point leaves a resumable part).
   */
  onStart?: (start: { resumedFrom: number; validator?: string }) => void;
}

export interface ResumableGetResult {
  /** Bytes that were already on disk and kept (0 when the download started over). */
  resumedFrom: number;
  /** Size of the partial file now (the whole file, unless the caller's checks find otherwise). */
  bytes: number;
  /** The response's ETag or Last-Modified, for a later If-Range (absent when the server sent neither). */
  validator?: string;
}

export async function resumableGet(url: string, partial: string, options: ResumableGetOptions): Promise<ResumableGetResult> {
  const phase = `downloading ${options.label}`;
  let offset = options.resume && fs.existsSync(partial) ? fs.statSync(partial).size : 0;
  if (options.expectedSize !== undefined && offset > options.expectedSize) offset = 0;
  const headers: Record<string, string> = { ...options.headers };
  if (offset > 0) {
    headers.Range = `bytes=${offset}-`;
    if (options.ifRange) headers['If-Range'] = options.ifRange;
  }
  throwIfAborted(options.signal, phase);
  let response: Response;
  try {
    response = await fetch(url, { headers, signal: options.signal, redirect: 'follow' });
  } catch (error) {
    throwIfAborted(options.signal, phase);
    const reason = (error as Error).cause ?? (error as Error).message;
    throw new SemrecError(`cannot reach ${url} (${String(reason)})`, 'ERR_DOWNLOAD', { cause: error });
  }
  const validator = response.headers.get('etag') ?? response.headers.get('last-modified') ?? undefined;
  if (response.status === 416 && offset > 0) {
    // Range not satisfiable: the partial file already holds all of it.
    await response.body?.cancel();
    return { resumedFrom: offset, bytes: offset, validator };
  }
  let append = false;
  if (response.status === 206 && offset > 0) {
    const range = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '');
    if (range === null || Number(range[1]) !== offset) {
      await response.body?.cancel();
      throw new SemrecError(`${url}: the server answered another range (${response.headers.get('content-range')}) than bytes=${offset}-`, 'ERR_DOWNLOAD');
    }
    append = true;
  } else if (response.status !== 200) {
    await response.body?.cancel();
    throw new SemrecError(`GET ${url} answered HTTP ${response.status} ${response.statusText}`, 'ERR_DOWNLOAD');
  }
  if (response.body === null) throw new SemrecError(`GET ${url} returned no body`, 'ERR_DOWNLOAD');

  const start = append ? offset : 0;
  options.onStart?.({ resumedFrom: start, validator });
  const length = Number(response.headers.get('content-length'));
  const total = Number.isFinite(length) && response.headers.has('content-length') ? start + length : options.expectedSize;
  let done = start;
  options.onProgress?.({ phase, done, total, unit: 'bytes' });
  const out = await fs.promises.open(partial, append ? 'a' : 'w');
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      await out.write(chunk);
      done += chunk.length;
      options.onProgress?.({ phase, done, total, unit: 'bytes' });
      throwIfAborted(options.signal, phase);
    }
  } catch (error) {
    throwIfAborted(options.signal, phase);
    if (error instanceof SemrecError) throw error;
    throw new SemrecError(
      `the download of ${url} broke off after ${done} bytes (${(error as Error).message}); run it again to resume`,
      'ERR_DOWNLOAD',
      { cause: error },
    );
  } finally {
    await out.close();
  }
  if (total !== undefined && done !== total) {
    throw new SemrecError(`the download of ${url} ended after ${done} of ${total} bytes; run it again to resume`, 'ERR_DOWNLOAD');
  }
  return { resumedFrom: start, bytes: done, validator };
}
