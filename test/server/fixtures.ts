/**
 * What the service tests share: small saved models (trained on the planted fixture, raw ids u0.., i0..),
 * a service started on a free loopback port, JSON requests with fetch, and the CLI server as a child
 * process (for signals and kill -9).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

import type { BaseRecommender } from '../../ts/models/base';
import { createModel, type ModelName } from '../../ts/models/registry';
import { createService, type SemrecService, type ServiceOptions } from '../../ts/server/app';
import { plantedStore } from '../helpers/interactions';

export const store = plantedStore(5, 40, 50, 12);

/** Fits `name` quickly on the planted fixture and saves it to `dir`. */
export async function saveModel(dir: string, name: ModelName = 'bpr', params: object = { epochs: 10, dim: 8 }, seed = 3): Promise<BaseRecommender<object>> {
  const model = createModel(name, params as never) as BaseRecommender<object>;
  await model.fit(store, { seed });
  await model.save(dir);
  return model;
}

export interface Running {
  service: SemrecService;
  url: string;
}

/** A service over `options.modelDir`, listening on a free loopback port. */
export async function startService(options: ServiceOptions): Promise<Running> {
  const service = createService(options);
  const url = await service.start(0, '127.0.0.1');
  return { service, url };
}

export interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** A JSON request; `body` is sent as given when it is a string (bad JSON), else as JSON. */
export async function request<T = Record<string, unknown>>(
  url: string,
  options: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const init: RequestInit = { method: options.method ?? (options.body !== undefined ? 'POST' : 'GET'), headers: { ...options.headers } };
  if (options.body !== undefined) {
    init.body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // metrics and other text answers stay text
  }
  return { status: response.status, body: body as T, headers: response.headers };
}

const ROOT = path.resolve(__dirname, '..', '..');

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * `semrec serve` as a child process, from the TypeScript sources (like spawnCli), or from the compiled
 * dist/ when `fromDist` (benchmarks: what a user runs); resolves once it printed its ready line. `env`
 * adds environment variables (the API key).
 */
export function spawnServer(args: string[], env: Record<string, string> = {}, fromDist = false): Promise<ServerProcess> {
  const entry = fromDist ? [path.join(ROOT, 'dist', 'cli', 'main.js')] : ['--require', require.resolve('tsx/cjs'), path.join(ROOT, 'ts', 'cli', 'main.ts')];
  const child = spawn(process.execPath, [...entry, 'serve', '--port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const check = () => {
      const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
      if (url && /semrec serve: ready/.test(output)) {
        child.stdout!.off('data', check);
        resolve({ child, url, output: () => output, exited });
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`semrec serve exited (${code}) before it was ready:\n${output}`)));
  });
}
