/**
 * Hub downloads, offline: a local HTTP server serves a repository in the Hugging Face URL layout
 * (`/<repo>/resolve/<revision>/<file>`; LFS files answer HEAD with X-Linked-Etag / X-Linked-Size and
 * redirect to a CDN path that honours Range; small files carry their git blob SHA-1 as ETag).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { isSemrecError } from '../../ts/errors';
import { createEncoder } from '../../ts/semantic/encoder';
import { DEFAULT_HUB_ENDPOINT, hubFileUrl, loadHubModel } from '../../ts/semantic/sources/hub';
import { requireShared } from '../helpers/shared';
import { robertaTokenizerDir, tinyRobertaDir } from './fixtures';

const REPO = 'semrec-test/tiny-roberta-onnx';
const COMMIT = '0123456789abcdef0123456789abcdef01234567';

interface Served {
  body: Buffer;
  lfs: boolean;
}

interface FakeHub {
  url: string;
  requests: { method: string; path: string; range?: string }[];
  /** Cut the connection after this many bytes on the next CDN GET (once). */
  cutNextDownloadAfter?: number;
  /** Serve these bytes instead of the real ones from the CDN (the announced hash stays the real one). */
  corruptWith?: Buffer;
  close(): Promise<void>;
}

async function startHub(files: Map<string, Served>): Promise<FakeHub> {
  const bySha = new Map<string, Buffer>();
  for (const f of files.values()) if (f.lfs) bySha.set(createHash('sha256').update(f.body).digest('hex'), f.body);
  const hub = { requests: [] as FakeHub['requests'] } as FakeHub;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    hub.requests.push({ method: req.method!, path: url.pathname, range: req.headers.range });
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) {
      const [, repo, , file] = resolve;
      const served = repo === REPO ? files.get(decodeURIComponent(file)) : undefined;
      if (!served) {
        res.writeHead(404, { 'X-Error-Code': 'EntryNotFound' }).end();
        return;
      }
      if (served.lfs) {
        const sha = createHash('sha256').update(served.body).digest('hex');
        res.writeHead(302, { Location: `/cdn/${sha}`, 'X-Linked-Etag': `"${sha}"`, 'X-Linked-Size': String(served.body.length), 'X-Repo-Commit': COMMIT }).end();
        return;
      }
      const blob = createHash('sha1').update(`blob ${served.body.length}\0`).update(served.body).digest('hex');
      res.writeHead(200, { ETag: `"${blob}"`, 'Content-Length': String(served.body.length), 'X-Repo-Commit': COMMIT });
      res.end(req.method === 'HEAD' ? undefined : served.body);
      return;
    }
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    const real = cdn ? bySha.get(cdn[1]) : undefined;
    if (!real) {
      res.writeHead(404).end();
      return;
    }
    const body = hub.corruptWith ?? real;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const part = body.subarray(start);
    res.writeHead(range ? 206 : 200, {
      'Content-Length': String(part.length),
      ...(range ? { 'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const cut = hub.cutNextDownloadAfter;
    if (cut !== undefined) {
      hub.cutNextDownloadAfter = undefined;
      res.write(part.subarray(0, cut), () => setTimeout(() => res.destroy(), 50));
      return;
    }
    res.end(part);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hub.close = () => new Promise((r) => server.close(() => r()));
  return hub;
}

function repoFiles(): Map<string, Served> {
  const dir = tinyRobertaDir();
  return new Map<string, Served>([
    ['onnx/model.onnx', { body: fs.readFileSync(path.join(dir, 'model.onnx')), lfs: true }],
    ['tokenizer.json', { body: fs.readFileSync(path.join(robertaTokenizerDir, 'tokenizer.json')), lfs: true }],
    ['tokenizer_config.json', { body: fs.readFileSync(path.join(robertaTokenizerDir, 'tokenizer_config.json')), lfs: false }],
    ['config.json', { body: Buffer.from(JSON.stringify({ model_type: 'roberta', hidden_size: 64, max_position_embeddings: 514 })), lfs: false }],
    ['1_Pooling/config.json', { body: Buffer.from(JSON.stringify({ pooling_mode_cls_token: false, pooling_mode_mean_tokens: true })), lfs: false }],
    ['modules.json', { body: Buffer.from(JSON.stringify([{ type: 'sentence_transformers.models.Transformer' }, { type: 'sentence_transformers.models.Pooling' }, { type: 'sentence_transformers.models.Normalize' }])), lfs: false }],
  ]);
}

describe('semantic/sources/hub (download against a local server in the hub layout)', function () {
  this.timeout(120_000);
  let hub: FakeHub;
  let files: Map<string, Served>;
  let cacheDir: string;

  beforeEach(async function () {
    requireShared(this, robertaTokenizerDir);
    files = repoFiles();
    hub = await startHub(files);
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-hub-'));
  });
  afterEach(async () => {
    await hub?.close();
    if (cacheDir) fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  const modelFile = () => path.join(cacheDir, 'hub', 'semrec-test--tiny-roberta-onnx', 'main', 'onnx', 'model.onnx');

  it('downloads a repository through /<repo>/resolve/<revision>/<file> and runs it', async () => {
    const encoder = await createEncoder({ model: REPO, hubEndpoint: hub.url, cacheDir });
    try {
      assert.equal(encoder.dim, 64);
      assert.equal(encoder.pooling, 'mean'); // from 1_Pooling/config.json
      assert.equal(encoder.normalize, true); // modules.json has a Normalize module
      assert.equal(encoder.maxLength, 128);
      assert.match(encoder.modelId, new RegExp(`^hub:${REPO}@${COMMIT}\\+`));
      const local = await createEncoder({ model: tinyRobertaDir(), normalize: true });
      const [a, b] = [await encoder.encode(['a downloaded model']), await local.encode(['a downloaded model'])];
      await local.release();
      assert.deepEqual(Array.from(a), Array.from(b));
    } finally {
      await encoder.release();
    }
    assert.ok(hub.requests.some((r) => r.method === 'GET' && r.path === `/${REPO}/resolve/main/onnx/model.onnx`));
    assert.ok(hub.requests.some((r) => r.method === 'GET' && r.path.startsWith('/cdn/')), 'LFS redirect followed');
    assert.ok(hub.requests.some((r) => r.method === 'HEAD' && r.path === `/${REPO}/resolve/main/model.onnx`), 'root model.onnx tried first');
    assert.equal(fs.readFileSync(modelFile()).compare(files.get('onnx/model.onnx')!.body), 0);
  });

  it('reuses cached files whose ETag still matches (HEAD only, no download)', async () => {
    await loadHubModel(REPO, { hubEndpoint: hub.url, cacheDir });
    hub.requests.length = 0;
    await loadHubModel(REPO, { hubEndpoint: hub.url, cacheDir });
    assert.ok(hub.requests.length > 0);
    assert.ok(hub.requests.every((r) => r.method === 'HEAD'), JSON.stringify(hub.requests));
  });

  it('resumes an interrupted download with a Range request', async () => {
    const size = files.get('onnx/model.onnx')!.body.length;
    files.get('tokenizer.json')!.lfs = false; // only the model goes through the (interrupted) CDN
    await hub.close();
    hub = await startHub(files);
    hub.cutNextDownloadAfter = 1_000_000;
    await assert.rejects(loadHubModel(REPO, { hubEndpoint: hub.url, cacheDir }), (e: unknown) => isSemrecError(e, 'ERR_DOWNLOAD') && /resume/.test((e as Error).message));
    assert.ok(!fs.existsSync(modelFile()), 'no final file after an interrupted download');
    const partial = fs.statSync(`${modelFile()}.incomplete`).size;
    assert.ok(partial > 0 && partial < size, `partial ${partial} of ${size}`);
    hub.requests.length = 0;
    await loadHubModel(REPO, { hubEndpoint: hub.url, cacheDir });
    const get = hub.requests.find((r) => r.method === 'GET' && r.path.startsWith('/cdn/'));
    assert.equal(get?.range, `bytes=${partial}-`);
    assert.equal(fs.readFileSync(modelFile()).compare(files.get('onnx/model.onnx')!.body), 0);
    assert.ok(!fs.existsSync(`${modelFile()}.incomplete`));
  });

  it('rejects bytes that do not match the announced SHA-256 and keeps nothing of them', async () => {
    const real = files.get('onnx/model.onnx')!.body;
    const bad = Buffer.from(real);
    bad[bad.length >> 1] ^= 0xff;
    files.get('tokenizer.json')!.lfs = false; // only the model goes through the (corrupting) CDN
    await hub.close();
    hub = await startHub(files);
    hub.corruptWith = bad;
    await assert.rejects(loadHubModel(REPO, { hubEndpoint: hub.url, cacheDir }), (e: unknown) => isSemrecError(e, 'ERR_CHECKSUM') && /SHA-256/.test((e as Error).message));
    assert.ok(!fs.existsSync(modelFile()));
    assert.ok(!fs.existsSync(`${modelFile()}.incomplete`), 'a corrupt partial is not kept for resuming');
  });

  it('works offline from the cache, and says so when the cache is empty', async () => {
    await loadHubModel(REPO, { hubEndpoint: hub.url, cacheDir });
    await hub.close();
    const offline = await loadHubModel(REPO, { cacheDir, offline: true });
    assert.equal(offline.config.dim, 64);
    const unreachable = await loadHubModel(REPO, { hubEndpoint: hub.url, cacheDir }); // server gone: cached copy stands
    assert.equal(unreachable.modelPath, offline.modelPath);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'semrec-hub-empty-'));
    try {
      await assert.rejects(loadHubModel(REPO, { cacheDir: empty, offline: true }), (e: unknown) => isSemrecError(e, 'ERR_MODEL_NOT_FOUND') && /offline/.test((e as Error).message));
      await assert.rejects(loadHubModel(REPO, { hubEndpoint: hub.url, cacheDir: empty }), (e: unknown) => isSemrecError(e, 'ERR_DOWNLOAD') && /cannot reach/.test((e as Error).message));
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
    hub = await startHub(files); // for afterEach
  });

  it('downloads a cached file again when its bytes no longer match, and offline refuses it with ERR_CHECKSUM', async () => {
    await loadHubModel(REPO, { hubEndpoint: hub.url, cacheDir });
    const damaged = fs.readFileSync(modelFile());
    damaged[damaged.length >> 1] ^= 0x01;
    fs.writeFileSync(modelFile(), damaged);
    await assert.rejects(loadHubModel(REPO, { cacheDir, offline: true }), (e: unknown) => isSemrecError(e, 'ERR_CHECKSUM') && /damaged/.test((e as Error).message));
    hub.requests.length = 0;
    await loadHubModel(REPO, { hubEndpoint: hub.url, cacheDir });
    assert.ok(hub.requests.some((r) => r.method === 'GET' && r.path.startsWith('/cdn/')), 'the damaged file was downloaded again');
    assert.equal(fs.readFileSync(modelFile()).compare(files.get('onnx/model.onnx')!.body), 0);
  });

  it('reports a repository without an ONNX export', async () => {
    files.delete('onnx/model.onnx');
    await assert.rejects(loadHubModel(REPO, { hubEndpoint: hub.url, cacheDir }), (e: unknown) => isSemrecError(e, 'ERR_MODEL_NOT_FOUND') && /onnx\/model\.onnx/.test((e as Error).message));
  });

  it('builds the public hub URL layout by default (not fetched: no network here)', () => {
    assert.equal(hubFileUrl(DEFAULT_HUB_ENDPOINT, 'sentence-transformers/all-distilroberta-v1', 'main', 'onnx/model.onnx'), 'https://huggingface.co/sentence-transformers/all-distilroberta-v1/resolve/main/onnx/model.onnx');
    assert.equal(hubFileUrl('http://mirror.local/', 'a/b', 'refs/pr/1', 'x y.json'), 'http://mirror.local/a/b/resolve/refs%2Fpr%2F1/x%20y.json');
  });
});
