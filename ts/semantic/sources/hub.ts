/**
 * Models from a Hugging Face repository: files are fetched from
 * `<endpoint>/<repo>/resolve/<revision>/<file>` (the hub's URL layout; large files redirect to a CDN),
 * kept in a cache directory, checked against the hub's ETag (SHA-256 for LFS files, the git blob SHA-1
 * for small ones) and size, and resumed with an HTTP Range request after an interruption. Node's
 * built-in fetch (undici) does the HTTP.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { SemrecError } from '../../errors';
import { type LongRunningOptions, throwIfAborted } from '../../progress';
import { commitStreamedFile, sha256File, writeFileAtomically } from '../../util/fs';
import { resumableGet } from '../../util/http-download';
import { loadLocalModel, ONNX_CANDIDATES } from './local';
import type { ResolvedEncoder } from './types';

/** The public hub; HF_ENDPOINT overrides it (as in huggingface_hub). */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

export interface HubOptions extends LongRunningOptions {
  /** Branch, tag or commit (default 'main'). */
  revision?: string;
  /** Hub base URL (default: HF_ENDPOINT or https://huggingface.co). */
  hubEndpoint?: string;
  /** Access token for gated or private repositories (default: HF_TOKEN). */
  hubToken?: string;
  /** Use cached files only; never touch the network. */
  offline?: boolean;
  cacheDir: string;
}

/** Files fetched when present: configuration that says how to tokenize and pool. */
const OPTIONAL_FILES = ['semrec-encoder.json', 'config.json', 'tokenizer_config.json', 'modules.json', '1_Pooling/config.json'];

interface RemoteInfo {
  etag?: string;
  size?: number;
  commit?: string;
}

interface CachedMeta extends RemoteInfo {
  url: string;
}

function repoDir(cacheDir: string, repo: string, revision: string): string {
  return path.join(cacheDir, 'hub', repo.replace('/', '--'), revision.replace(/[^\w.-]/g, '_'));
}

function metaPath(dir: string, file: string): string {
  return path.join(dir, '.semrec-meta', `${file.replace(/\//g, '__')}.json`);
}

/** `<endpoint>/<repo>/resolve/<revision>/<file>`, the hub's download URL of one file. */
export function hubFileUrl(endpoint: string, repo: string, revision: string, file: string): string {
  const encodedFile = file.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${repo}/resolve/${encodeURIComponent(revision)}/${encodedFile}`;
}

function cleanEtag(raw: string | null): string | undefined {
  if (!raw) return undefined;
  return raw.replace(/^W\//, '').replace(/^"|"$/g, '');
}

function readMeta(file: string): CachedMeta | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as CachedMeta;
  } catch {
    return undefined;
  }
}

/** Checks a finished download against the hub's ETag: SHA-256 for LFS files, git's blob SHA-1 otherwise. */
async function verify(file: string, info: RemoteInfo, url: string): Promise<void> {
  const size = fs.statSync(file).size;
  if (info.size !== undefined && size !== info.size) {
    throw new SemrecError(`download of ${url}: got ${size} bytes, the hub announced ${info.size}`, 'ERR_CHECKSUM');
  }
  const etag = info.etag;
  if (!etag) return;
  if (/^[0-9a-f]{64}$/.test(etag)) {
    const got = await sha256File(file);
    if (got !== etag) throw new SemrecError(`download of ${url}: SHA-256 ${got} does not match the hub's ${etag}`, 'ERR_CHECKSUM');
  } else if (/^[0-9a-f]{40}$/.test(etag)) {
    const hash = createHash('sha1').update(`blob ${size}\0`);
    for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
    const got = hash.digest('hex');
    if (got !== etag) throw new SemrecError(`download of ${url}: git blob SHA-1 ${got} does not match the hub's ${etag}`, 'ERR_CHECKSUM');
  }
}

interface FetchContext {
  repo: string;
  revision: string;
  endpoint: string;
  token?: string;
  dir: string;
  options: HubOptions;
  /** Set when the hub could not be reached: later files come from the cache alone. */
  unreachable?: Error;
}

function headers(ctx: FetchContext, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { 'Accept-Encoding': 'identity', 'User-Agent': 'semrec', ...extra };
  if (ctx.token) h.Authorization = `Bearer ${ctx.token}`;
  return h;
}

/** HEAD of a file: its ETag, size and commit, or 'missing' on 404. Redirects are not followed (their headers carry the LFS metadata). */
async function head(ctx: FetchContext, url: string): Promise<RemoteInfo | 'missing'> {
  const res = await fetch(url, { method: 'HEAD', redirect: 'manual', headers: headers(ctx), signal: ctx.options.signal });
  if (res.status === 404) return 'missing';
  if (res.status === 401 || res.status === 403) {
    throw new SemrecError(`${url}: access denied (HTTP ${res.status}); set HF_TOKEN for gated or private repositories`, 'ERR_DOWNLOAD');
  }
  if (!(res.ok || (res.status >= 300 && res.status < 400))) throw new SemrecError(`${url}: HTTP ${res.status} ${res.statusText}`, 'ERR_DOWNLOAD');
  // On a redirect (LFS files) Content-Length is the redirect's own body: only X-Linked-Size counts there.
  const size = res.headers.get('x-linked-size') ?? (res.status < 300 ? res.headers.get('content-length') : null);
  return {
    etag: cleanEtag(res.headers.get('x-linked-etag') ?? res.headers.get('etag')),
    size: size !== null ? Number(size) : undefined,
    commit: res.headers.get('x-repo-commit') ?? undefined,
  };
}

/**
 * One file of the repository in the cache: reused when its ETag still matches (or when offline / the hub
 * is unreachable), downloaded and verified otherwise. Returns undefined when the hub says 404.
 */
async function fetchFile(ctx: FetchContext, file: string): Promise<{ path: string; commit?: string } | undefined> {
  const target = path.join(ctx.dir, file);
  const metaFile = metaPath(ctx.dir, file);
  const url = hubFileUrl(ctx.endpoint, ctx.repo, ctx.revision, file);
  const recorded = fs.existsSync(target) ? readMeta(metaFile) : undefined;
  // A cached copy is used only while it still matches the ETag and size it was downloaded against.
  const damaged = recorded ? await verify(target, recorded, url).then(() => undefined, (error: Error) => error) : undefined;
  const cached = damaged ? undefined : recorded;
  const fromCache = cached ? { path: target, commit: cached.commit } : undefined;
  if (ctx.options.offline || ctx.unreachable) {
    if (damaged) {
      throw new SemrecError(
        `the cached copy of ${ctx.repo}/${file} is damaged (${damaged.message}) and cannot be downloaded again ${ctx.options.offline ? 'offline' : `(${ctx.unreachable!.message})`}`,
        'ERR_CHECKSUM',
        { cause: damaged },
      );
    }
    return fromCache;
  }
  throwIfAborted(ctx.options.signal, `downloading ${ctx.repo}`);
  let info: RemoteInfo | 'missing';
  try {
    info = await head(ctx, url);
  } catch (cause) {
    if (cause instanceof SemrecError) throw cause;
    throwIfAborted(ctx.options.signal, `downloading ${ctx.repo}`);
    ctx.unreachable = cause as Error; // the cached copies stand
    return fromCache;
  }
  if (info === 'missing') return undefined;
  if (cached && cached.etag === info.etag && (info.size === undefined || fs.statSync(target).size === info.size)) {
    return { path: target, commit: info.commit ?? cached.commit };
  }
  const partial = `${target}.incomplete`;
  const partialMeta = `${metaFile}.incomplete`;
  // A partial download of another version of the file cannot be resumed.
  const previous = readMeta(partialMeta);
  if (fs.existsSync(partial) && (!previous || previous.etag !== info.etag)) fs.rmSync(partial);
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  await writeFileAtomically(partialMeta, JSON.stringify({ url, ...info }));
  // The partial file is known to be this version's (its ETag was checked above), so a plain Range resumes it.
  await resumableGet(url, partial, {
    ...ctx.options,
    headers: headers(ctx),
    resume: true,
    expectedSize: info.size,
    label: `${ctx.repo}/${file}`,
  });
  try {
    await verify(partial, info, url);
  } catch (error) {
    fs.rmSync(partial, { force: true }); // corrupt: start over next time rather than resume it
    fs.rmSync(partialMeta, { force: true });
    throw error;
  }
  await commitStreamedFile(partial, target);
  await writeFileAtomically(metaFile, JSON.stringify({ url, ...info }));
  fs.rmSync(partialMeta, { force: true });
  return { path: target, commit: info.commit };
}

/** Downloads (or reuses) an ONNX encoder repository and loads it like a local directory. */
export async function loadHubModel(repo: string, options: HubOptions): Promise<ResolvedEncoder> {
  const revision = options.revision ?? DEFAULT_REVISION;
  const ctx: FetchContext = {
    repo,
    revision,
    endpoint: options.hubEndpoint ?? process.env.HF_ENDPOINT ?? DEFAULT_HUB_ENDPOINT,
    token: options.hubToken ?? process.env.HF_TOKEN,
    dir: repoDir(options.cacheDir, repo, revision),
    options,
  };
  const missing = (what: string): SemrecError =>
    ctx.unreachable
      ? new SemrecError(`cannot reach ${ctx.endpoint} (${ctx.unreachable.message}) and the cache has no ${what} of ${repo}@${revision}`, 'ERR_DOWNLOAD', { cause: ctx.unreachable })
      : new SemrecError(`${repo}@${revision}: no ${what} ${options.offline ? 'in the cache (offline)' : 'in the repository'}`, 'ERR_MODEL_NOT_FOUND');
  let commit: string | undefined;
  for (const file of OPTIONAL_FILES) commit = (await fetchFile(ctx, file))?.commit ?? commit;
  const tokenizer = await fetchFile(ctx, 'tokenizer.json');
  if (!tokenizer) throw missing('tokenizer.json');
  let model: { path: string; commit?: string } | undefined;
  for (const candidate of ONNX_CANDIDATES) {
    model = await fetchFile(ctx, candidate);
    if (model) break;
  }
  if (!model) throw missing(`ONNX export (${ONNX_CANDIDATES.join(' or ')})`);
  commit = model.commit ?? commit;
  return loadLocalModel(ctx.dir, `hub:${repo}@${commit ?? revision}`);
}
