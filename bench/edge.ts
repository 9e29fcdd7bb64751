// The edge: the real Worker in workerd (wrangler dev --local, via scripts/local-stack.ts) serving cached
// token sets and images (auth in D1, ownership check, Cache API / R2 read, JSON or GTOK body), next to a
// minimal Worker that only reads the same R2 object (bench/minimal-worker, same --persist-to state, so
// the same local bucket). Also the tokenize cache: a hit (R2 lookup of the tokenize key) against a miss
// (backend encode + writes).
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { TOKENS_MEDIA_TYPE } from '@gigatok/shared';
import sharp from 'sharp';
import { readManifest } from '../gpu-backend/src/model-dir/manifest.ts';
import { freePort, repoRoot, startStack } from '../scripts/local-stack.ts';
import { type LoadFigure, load } from './load.ts';
import type { Headline, Section, Table } from './report.ts';
import { fmt, median, percentile, ratio } from './stats.ts';

export interface EdgeOptions {
  modelDir: string;
  /** Seconds per autocannon run. */
  seconds: number;
  connections: number;
  /** Distinct images tokenized (misses), each then tokenized again (hits). */
  tokenizeSamples: number;
  log: (line: string) => void;
}

/**
 * The Edge API allows 600 requests a minute per API key (RATE_LIMITER, enforced by miniflare too),
 * so the load rotates over enough keys of one tenant that the limiter never answers 429.
 */
const KEYS = 64;

async function startMinimalWorker(stateDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    path.join(repoRoot, 'node_modules', '.bin', 'wrangler'),
    [
      'dev',
      '--config',
      'bench/minimal-worker/wrangler.toml',
      '--local',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--inspector-port',
      String(await freePort()),
      '--persist-to',
      stateDir,
      '--show-interactive-dev-session=false',
    ],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        WRANGLER_SEND_METRICS: 'false',
        CI: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const keep = (c: Buffer) => {
    output = (output + c.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the minimal Worker exited with ${child.exitCode}:\n${output}`);
    try {
      const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.status === 404) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the minimal Worker did not answer within 120 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url, stop };
}

/** A PNG of random pixels (distinct bytes every call, so a tokenize of it is a cache miss). */
async function noisePng(size: number): Promise<Buffer> {
  const raw = Buffer.alloc(size * size * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(Math.random() * 256);
  return sharp(raw, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

export async function runEdge(o: EdgeOptions): Promise<Section> {
  const manifest = await readManifest(o.modelDir);
  const size = manifest.tokenizer.image_size * 2;
  const stateDir = path.join(repoRoot, '.local', `bench-${process.pid}`);
  o.log('starting the backend and the Worker (wrangler dev --local) ...');
  const stack = await startStack({
    stateDir,
    modelDirs: [o.modelDir],
    backendEnv: { GIGATOK_LOG_LEVEL: 'warn' },
  });
  let minimal: Awaited<ReturnType<typeof startMinimalWorker>> | undefined;
  try {
    const first = await stack.createKey('bench');
    const mintKey = async (name: string) => {
      const res = await fetch(`${stack.apiUrl}/v1/admin/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tenant_id: first.tenantId, name }),
      });
      if (!res.ok) throw new Error(`minting an API key failed: HTTP ${res.status} ${await res.text()}`);
      return ((await res.json()) as { key: string }).key;
    };
    const keys = [first.key];
    for (let i = 1; i < KEYS; i++) keys.push(await mintKey(`bench key ${i}`));
    let next = 0;
    const key = () => keys[next++ % keys.length]!;
    const api = (pathname: string, init: RequestInit = {}) =>
      fetch(stack.apiUrl + pathname, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${key()}` },
      });

    // Tokenize: distinct images (misses), then the same bytes again (hits).
    // One key for the tokenize phase (61 requests, under its 600/min): what is measured is the
    // tokenize cache, not the first check of a key.
    const tokenize = async (png: Buffer) => {
      const t0 = performance.now();
      const res = await fetch(`${stack.apiUrl}/v1/tokenize?model=${encodeURIComponent(manifest.model_id)}`, {
        method: 'POST',
        headers: { 'content-type': 'image/png', authorization: `Bearer ${first.key}` },
        body: new Uint8Array(png),
      });
      const body = (await res.json()) as { id?: string };
      const ms = performance.now() - t0;
      if (res.status !== 200 || body.id === undefined) {
        throw new Error(`tokenize answered ${res.status}: ${JSON.stringify(body)}`);
      }
      return {
        ms,
        cache: res.headers.get('x-cache') ?? '?',
        id: body.id,
        timing: res.headers.get('server-timing') ?? '',
      };
    };
    const pngs = await Promise.all(Array.from({ length: o.tokenizeSamples + 1 }, () => noisePng(size)));
    const warm = await tokenize(pngs[0]!); // the first request also warms the Worker and the backend
    const tokenId = warm.id;
    const misses: number[] = [];
    const hits: number[] = [];
    const missIds: string[] = [];
    let wrongCache = 0;
    for (const png of pngs.slice(1)) {
      const r = await tokenize(png);
      misses.push(r.ms);
      missIds.push(r.id);
      if (r.cache !== 'miss') wrongCache += 1;
    }
    const hitPhases = new Map<string, number[]>();
    for (let round = 0; round < 2; round++) {
      for (const png of pngs.slice(1)) {
        const r = await tokenize(png);
        hits.push(r.ms);
        if (r.cache !== 'hit') wrongCache += 1;
        for (const m of r.timing.matchAll(/(\w+);dur=([\d.]+)/g)) {
          hitPhases.set(m[1]!, [...(hitPhases.get(m[1]!) ?? []), Number(m[2])]);
        }
      }
    }
    o.log(`tokenize miss p50 ${fmt(median(misses))} ms, hit p50 ${fmt(median(hits))} ms`);

    const detok = await api('/v1/detokenize', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token_id: tokenId, format: 'png' }),
    });
    await detok.arrayBuffer();
    const imageId = detok.headers.get('x-image-id');
    if (detok.status !== 200 || imageId === null) throw new Error(`detokenize answered ${detok.status}`);

    minimal = await startMinimalWorker(stateDir);
    const targets: { name: string; worker: 'Edge API' | 'minimal'; url: string; accept?: string }[] = [
      { name: 'token set, JSON', worker: 'Edge API', url: `${stack.apiUrl}/v1/tokens/${tokenId}` },
      {
        name: 'token set, GTOK',
        worker: 'Edge API',
        url: `${stack.apiUrl}/v1/tokens/${tokenId}`,
        accept: TOKENS_MEDIA_TYPE,
      },
      { name: 'image, PNG', worker: 'Edge API', url: `${stack.apiUrl}/v1/images/${imageId}` },
      { name: 'token set, GTOK', worker: 'minimal', url: `${minimal.url}/tokens/${tokenId}` },
      { name: 'image, PNG', worker: 'minimal', url: `${minimal.url}/images/${imageId}` },
    ];
    const figures: { name: string; worker: string; figure: LoadFigure }[] = [];
    for (const t of targets) {
      const headers: Record<string, string> = t.accept ? { accept: t.accept } : {};
      const authed = t.worker === 'Edge API';
      // Untimed: check the answer, and let the Worker put the blob into its Cache API copy.
      for (let i = 0; i < 3; i++) {
        const res = await fetch(t.url, {
          headers: authed ? { ...headers, authorization: `Bearer ${key()}` } : headers,
        });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`GET ${t.url} answered ${res.status}`);
      }
      const figure = await load({
        url: t.url,
        headers,
        connections: o.connections,
        seconds: o.seconds,
        ...(authed
          ? {
              setupRequest: (req) => {
                req.headers = { ...req.headers, authorization: `Bearer ${key()}` };
                return req;
              },
            }
          : {}),
      });
      figures.push({ name: t.name, worker: t.worker, figure });
      o.log(
        `${t.worker} ${t.name}: ${fmt(figure.requestsPerSecond)} req/s, p50 ${fmt(figure.p50Ms)} ms, ` +
          `p99 ${fmt(figure.p99Ms)} ms${figure.non2xx + figure.errors > 0 ? `, ${figure.non2xx} non-2xx, ${figure.errors} errors` : ''}`,
      );
    }

    // The floor of a tokenize hit: the same PNG uploads to the minimal Worker, which reads the body and
    // then one R2 object.
    const uploads: number[] = [];
    for (const png of pngs.slice(1)) {
      const t0 = performance.now();
      const res = await fetch(`${minimal.url}/tokens/${tokenId}`, {
        method: 'POST',
        body: new Uint8Array(png),
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`POST to the minimal Worker answered ${res.status}`);
      uploads.push(performance.now() - t0);
    }

    // Cold path: the Worker restarted on the same state is a fresh isolate, and the keys are minted
    // after the restart, so the first read of each token set finds every in-isolate cache empty and
    // the key in no cache at all (D1 answers it; the colo Cache API, persisted locally, holds the
    // grants and blobs). The second read of each is warm. One request at a time, next to the minimal
    // Worker's read of the same blobs.
    o.log('restarting the Worker for the cold path (a fresh isolate) ...');
    await stack.restartWorker();
    await (await fetch(`${stack.apiUrl}/v1/healthz`)).arrayBuffer(); // module start-up, untimed
    const coldKeys: string[] = [];
    for (let i = 0; i < missIds.length; i++) coldKeys.push(await mintKey(`bench cold key ${i}`));
    const single = async (url: string, authorization?: string) => {
      const t0 = performance.now();
      const res = await fetch(url, {
        headers: { accept: TOKENS_MEDIA_TYPE, ...(authorization ? { authorization } : {}) },
      });
      await res.arrayBuffer();
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
      return { ms, timing: res.headers.get('server-timing') ?? '' };
    };
    const layers = new Map<string, number>();
    const sequence = async (edge: boolean, tally: boolean) => {
      const times: number[] = [];
      for (const [i, id] of missIds.entries()) {
        const r = edge
          ? await single(`${stack.apiUrl}/v1/tokens/${id}`, `Bearer ${coldKeys[i]}`)
          : await single(`${minimal!.url}/tokens/${id}`);
        times.push(r.ms);
        if (tally) {
          for (const m of r.timing.matchAll(/(auth|own);dur=[\d.]+;desc="(\w+)"/g)) {
            layers.set(`${m[1]} ${m[2]}`, (layers.get(`${m[1]} ${m[2]}`) ?? 0) + 1);
          }
        }
      }
      return times;
    };
    const cold = await sequence(true, true);
    const warmReads = await sequence(true, false);
    const bare = await sequence(false, false);
    o.log(
      `one at a time: cold p50 ${fmt(median(cold))} ms, warm ${fmt(median(warmReads))} ms, minimal ${fmt(median(bare))} ms`,
    );
    const coldTable: Table = {
      title: `One request at a time: GET /v1/tokens/{id} (GTOK) on ${missIds.length} token sets, and tokenize hits`,
      columns: ['case', 'p50 ms', 'p99 ms', 'mean ms', 'p50 / minimal p50'],
      rows: [
        ['Edge API, cold: fresh isolate, first read of each id and key', cold],
        ['Edge API, warm: the same reads again', warmReads],
        ['minimal Worker (one R2 get)', bare],
        ['POST /v1/tokenize, hit (same PNG bytes again)', hits],
        ['minimal Worker, the same PNG uploaded, then one R2 get', uploads],
      ].map(([name, xs]) => {
        const t = xs as number[];
        return [
          name as string,
          fmt(median(t)),
          fmt(percentile(t, 99)),
          fmt(mean(t)),
          ratio(median(t) / median(bare)),
        ];
      }),
    };

    const floor = (name: string) =>
      figures.find((f) => f.worker === 'minimal' && f.name === name.replace('JSON', 'GTOK'))?.figure;
    const table: Table = {
      title: `Cached retrieval on loopback, ${o.connections} connections, ${o.seconds} s per run (autocannon)`,
      columns: ['resource', 'Worker', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'minimal / this'],
      rows: figures.map((f) => {
        const base = floor(f.name);
        return [
          f.name,
          f.worker,
          fmt(f.figure.requestsPerSecond),
          fmt(f.figure.p50Ms),
          fmt(f.figure.p99Ms),
          String(f.figure.non2xx + f.figure.errors),
          base && f.worker !== 'minimal' ? ratio(base.requestsPerSecond / f.figure.requestsPerSecond) : '',
        ];
      }),
    };
    const tokenizeTable: Table = {
      title: `POST /v1/tokenize, one request at a time (${misses.length} misses, ${hits.length} hits)`,
      columns: ['case', 'p50 ms', 'p99 ms', 'mean ms'],
      rows: [
        [
          'miss (new image: backend encode, R2 + D1 writes)',
          fmt(median(misses)),
          fmt(percentile(misses, 99)),
          fmt(mean(misses)),
        ],
        [
          'hit (same bytes: tokenize key found in R2)',
          fmt(median(hits)),
          fmt(percentile(hits, 99)),
          fmt(mean(hits)),
        ],
      ],
    };
    const headlines: Headline[] = [];
    for (const f of figures.filter((x) => x.worker === 'Edge API')) {
      const base = floor(f.name);
      if (base === undefined) continue;
      headlines.push({
        figure: `edge overhead, ${f.name}`,
        value: ratio(base.requestsPerSecond / f.figure.requestsPerSecond),
        detail:
          `minimal Worker ${fmt(base.requestsPerSecond)} vs Edge API ${fmt(f.figure.requestsPerSecond)} req/s; ` +
          `p50 ${fmt(base.p50Ms)} vs ${fmt(f.figure.p50Ms)} ms`,
      });
    }
    headlines.push({
      figure: 'edge cold read (fresh isolate) / minimal Worker, p50',
      value: ratio(median(cold) / median(bare)),
      detail:
        `p50 ${fmt(median(cold))} ms cold vs ${fmt(median(warmReads))} ms warm vs ${fmt(median(bare))} ms minimal; ` +
        `answered by: ${[...layers.entries()].map(([k, n]) => `${k} ${n}`).join(', ')}`,
    });
    headlines.push({
      figure: 'tokenize hit p50 / minimal Worker upload + read p50',
      value: ratio(median(hits) / median(uploads)),
      detail:
        `p50 ${fmt(median(hits))} ms tokenize hit vs ${fmt(median(uploads))} ms minimal upload + read ` +
        `(${fmt(median(bare))} ms read alone); ` +
        `Server-Timing p50 of a hit: ${[...hitPhases.entries()].map(([k, xs]) => `${k} ${fmt(median(xs))}`).join(', ')} ms`,
    });
    headlines.push({
      figure: 'tokenize: miss / hit latency',
      value: ratio(median(misses) / median(hits)),
      detail: `p50 ${fmt(median(misses))} ms miss vs ${fmt(median(hits))} ms hit`,
    });
    return {
      id: 'edge',
      title: 'Edge: the Edge API Worker vs a minimal R2-reading Worker (workerd, wrangler dev --local)',
      tables: [table, tokenizeTable, coldTable],
      notes: [
        'Edge API path per request: API key (isolate cache, else the colo Cache API, else D1), rate limiter, ' +
          'ownership (isolate cache, else colo, else D1), blob from the Cache API copy (R2 on a miss), strong ' +
          'ETag, and for JSON the GTOK decode + JSON encode. The minimal Worker does one R2 get per request.',
        'The cold table restarts the Worker (a fresh isolate on the same local state) and reads each token ' +
          'set once with a key that isolate never checked; "answered by" counts the layers named in Server-Timing.',
        `The load rotates over ${KEYS} API keys of one tenant so that the per-key limit (600/min) does not ` +
          'answer 429; "non-2xx" counts errors too.',
        'Everything runs on one machine: wrangler/workerd, the backend, autocannon. workerd locally is not the ' +
          'Cloudflare edge; the ratio, not the absolute figure, is what carries over.',
        ...(wrongCache > 0 ? [`${wrongCache} tokenize answers had an unexpected X-Cache value.`] : []),
      ],
      headlines,
      data: {
        figures,
        tokenize: { misses, hits, wrongCache },
        single: { cold, warm: warmReads, minimal: bare, uploads, layers: Object.fromEntries(layers) },
        tokenId,
        imageId,
      },
    };
  } finally {
    await minimal?.stop();
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
