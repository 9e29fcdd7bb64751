// Load on the real stack over loopback with autocannon: cached token reads and tokenize cache hits (no
// error allowed), and generation submissions while the backend is saturated (429 + Retry-After and queued
// jobs, never a failed job). `npm run test:soak` runs it at length on a stack of its own, with more rounds
// of the bad-input corpus for the memory bound and `npm audit`; test/e2e/load.test.ts runs a short version.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GenerationSchema, signBackendRequest, TokensResponseSchema } from '@gigatok/shared';
import autocannon from 'autocannon';
import { repoRoot, startStack } from '../../scripts/local-stack.ts';
import { buildCorpus, type ModelFacts, validImages } from '../lib/bad-inputs.ts';
import { backendMetric, healthy, runCorpus } from '../lib/probe.ts';
import { recordSection } from '../lib/report.ts';

export interface LoadFigures {
  scenario: string;
  connections: number;
  duration_s: number;
  requests: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  /** Connection errors and timeouts (no HTTP answer). */
  errors: number;
  statuses: Record<string, number>;
  /** 429 answers with and without a Retry-After header. */
  retry_after?: { with: number; without: number };
}

function summarise(scenario: string, result: autocannon.Result, retryAfter?: LoadFigures['retry_after']) {
  const statuses: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = stat.count ?? 0;
  const figures: LoadFigures = {
    scenario,
    connections: result.connections,
    duration_s: Math.round(result.duration * 10) / 10,
    requests: result.requests.total,
    rps: Math.round(result.requests.total / result.duration),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    statuses,
  };
  if (retryAfter) figures.retry_after = retryAfter;
  return figures;
}

/** Mints `n` API keys for one tenant (a new one unless `tenantId` is given) through the admin route. */
export async function mintKeys(
  apiUrl: string,
  adminToken: string,
  n: number,
  tenantId?: string,
): Promise<{ tenantId: string; keys: string[] }> {
  const keys: string[] = [];
  let tenant = tenantId;
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${apiUrl}/v1/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(tenant ? { tenant_id: tenant } : { tenant_name: 'load' }),
    });
    if (res.status !== 201) throw new Error(`admin/keys: HTTP ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { key: string; tenant_id: string };
    tenant = body.tenant_id;
    keys.push(body.key);
  }
  return { tenantId: tenant!, keys };
}

/**
 * Keys are rotated per request: each key is limited to 600 requests a minute (the RATE_LIMITER binding),
 * and the point here is the serving path, not the limiter. Mint enough keys for the expected volume.
 */
function rotatingKeys(keys: string[]) {
  let next = 0;
  return (request: autocannon.Request): autocannon.Request => {
    request.headers = { ...request.headers, authorization: `Bearer ${keys[next++ % keys.length]}` };
    return request;
  };
}

/** A response header by name in any case (autocannon hands raw header names over). */
function header(headers: Record<string, unknown> | undefined, name: string): unknown {
  const key = Object.keys(headers ?? {}).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers![key];
}

function run(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

export interface LoadTarget {
  apiUrl: string;
  keys: string[];
  model: ModelFacts;
}

/** GET /v1/healthz: no key, no storage. The floor of the local runtime (wrangler dev's proxy and workerd). */
export async function baseline(to: LoadTarget, connections: number, durationS: number): Promise<LoadFigures> {
  const result = await run({ url: `${to.apiUrl}/v1/healthz`, connections, duration: durationS });
  return summarise('baseline: GET /v1/healthz (no key, no storage)', result);
}

/** GET /v1/tokens/{id} of one stored token set (owned by the keys' tenant): D1 ownership check + R2/edge cache. */
export async function cachedTokens(
  to: LoadTarget,
  connections: number,
  durationS: number,
): Promise<LoadFigures> {
  const { png } = await validImages();
  const first = await fetch(`${to.apiUrl}/v1/tokenize?model=${to.model.id}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${to.keys[0]}`, 'content-type': 'image/png' },
    body: new Uint8Array(png),
  });
  if (first.status !== 200) throw new Error(`tokenize: HTTP ${first.status} ${await first.text()}`);
  const tokenId = TokensResponseSchema.parse(await first.json()).id;
  const result = await run({
    url: to.apiUrl,
    connections,
    duration: durationS,
    requests: [{ method: 'GET', path: `/v1/tokens/${tokenId}`, setupRequest: rotatingKeys(to.keys) }],
  });
  return summarise('cached token retrieval (GET /v1/tokens/{id})', result);
}

/** POST /v1/tokenize of the same PNG again and again: answered from R2 (X-Cache: hit), no backend call. */
export async function tokenizeHits(
  to: LoadTarget,
  connections: number,
  durationS: number,
): Promise<LoadFigures> {
  const { png } = await validImages();
  let misses = 0;
  const result = await run({
    url: to.apiUrl,
    connections,
    duration: durationS,
    requests: [
      {
        method: 'POST',
        path: `/v1/tokenize?model=${to.model.id}`,
        headers: { 'content-type': 'image/png' },
        body: png,
        setupRequest: rotatingKeys(to.keys),
        onResponse: (status, _body, _context, headers) => {
          if (status === 200 && header(headers, 'x-cache') !== 'hit') misses++;
        },
      },
    ],
  });
  const figures = summarise('tokenize cache hits (POST /v1/tokenize, same PNG)', result);
  // The first request of the run may be the one that fills the cache.
  if (misses > 1) figures.statuses[`200 (miss x${misses})`] = misses;
  return figures;
}

export interface SaturationFigures {
  backend: LoadFigures;
  worker: LoadFigures;
  jobs: { accepted: number; succeeded: number; failed: number; unfinished: number; retried: number };
}

/**
 * Saturates the backend with signed /v1/generate calls of 64 images (the backend's queue holds
 * GIGATOK_MAX_QUEUE images; beyond it 429 queue_full + Retry-After), while clients submit generations to
 * the Worker (beyond MAX_QUEUED_JOBS_PER_TENANT active jobs: 429 queue_full + Retry-After). Then waits
 * for every accepted job: they must all succeed, retried while the backend refused them.
 */
export async function generationSaturation(
  to: LoadTarget & { backendUrl: string; backendSecret: string },
  connections: number,
  durationS: number,
  settleTimeoutMs = 600_000,
): Promise<SaturationFigures> {
  const body = JSON.stringify({
    model: to.model.id,
    seed: 1,
    class_ids: new Array(64).fill(0),
    cfg_scale: 1,
    cfg_schedule: 'constant',
    temperature: 1,
    top_k: 0,
    top_p: 1,
    return_images: false,
  });
  // One signature serves the whole run: the window is 300 s and the backend keeps no nonce (by design,
  // docs/reliability.md); fresh ones would only cost client CPU.
  const signature = await signBackendRequest({
    secret: to.backendSecret,
    method: 'POST',
    path: '/v1/generate',
    body,
  });
  const backendRetry = { with: 0, without: 0 };
  const workerRetry = { with: 0, without: 0 };
  let seed = 1_000_000 + Math.floor(Math.random() * 1_000_000);
  const rotate = rotatingKeys(to.keys);
  const [backend, worker] = await Promise.all([
    run({
      url: to.backendUrl,
      connections,
      duration: durationS,
      requests: [
        {
          method: 'POST',
          path: '/v1/generate',
          headers: { 'content-type': 'application/json', ...signature },
          body,
          onResponse: (status, _b, _c, headers) => {
            if (status === 429) header(headers, 'retry-after') ? backendRetry.with++ : backendRetry.without++;
          },
        },
      ],
    }),
    run({
      url: to.apiUrl,
      connections: Math.max(2, connections >> 1),
      duration: durationS,
      requests: [
        {
          method: 'POST',
          path: '/v1/generations',
          headers: { 'content-type': 'application/json' },
          setupRequest: (request) => {
            request.body = JSON.stringify({
              model: to.model.id,
              class_id: seed % to.model.num_classes,
              seed: seed++,
            });
            return rotate(request);
          },
          onResponse: (status, _b, _c, headers) => {
            if (status === 429) header(headers, 'retry-after') ? workerRetry.with++ : workerRetry.without++;
          },
        },
      ],
    }),
  ]);
  // Every job of the tenant, until none is queued or running.
  const jobs = async () => {
    const all: { status: string; attempts: number }[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : '';
      const res = await fetch(`${to.apiUrl}/v1/generations?limit=100${query}`, {
        headers: { authorization: `Bearer ${to.keys[0]}` },
      });
      const page = (await res.json()) as { data: unknown[]; next_cursor: string | null };
      for (const j of page.data) all.push(GenerationSchema.parse(j));
      cursor = page.next_cursor;
    } while (cursor);
    return all;
  };
  const deadline = Date.now() + settleTimeoutMs;
  let list = await jobs();
  while (list.some((j) => j.status === 'queued' || j.status === 'running') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2000));
    list = await jobs();
  }
  return {
    backend: summarise(
      'backend /v1/generate flood, 64 images per call (signed, direct)',
      backend,
      backendRetry,
    ),
    worker: summarise('generation submissions while the backend is saturated', worker, workerRetry),
    jobs: {
      accepted: list.length,
      succeeded: list.filter((j) => j.status === 'succeeded').length,
      failed: list.filter((j) => j.status === 'failed').length,
      unfinished: list.filter((j) => j.status === 'queued' || j.status === 'running').length,
      retried: list.filter((j) => j.attempts > 1).length,
    },
  };
}

const exec = promisify(execFile);

/** Allowed rise of the backend's memory floor from the first to the second half of the soak rounds. */
const SOAK_FLOOR_BOUND_MIB = 64;

/** `npm audit --omit=dev --json`: counts by severity, or why it could not run. */
export async function audit(): Promise<Record<string, unknown>> {
  try {
    const { stdout } = await exec('npm', ['audit', '--omit=dev', '--json'], {
      cwd: repoRoot,
      maxBuffer: 64 << 20,
    });
    return parseAudit(stdout);
  } catch (error) {
    // npm audit exits 1 when it finds anything; its JSON is still on stdout.
    const stdout = (error as { stdout?: string }).stdout;
    if (stdout) return parseAudit(stdout);
    return { ran: false, reason: String(error).slice(0, 300) };
  }
}

function parseAudit(stdout: string): Record<string, unknown> {
  const report = JSON.parse(stdout) as {
    metadata?: { vulnerabilities?: Record<string, number>; dependencies?: { prod?: number; total?: number } };
    error?: { summary?: string };
    message?: string;
  };
  if (report.error) return { ran: false, reason: report.message ?? report.error.summary };
  return {
    ran: true,
    vulnerabilities: report.metadata?.vulnerabilities ?? {},
    dependencies: report.metadata?.dependencies?.prod ?? report.metadata?.dependencies?.total,
  };
}

/** `npm run test:soak`: the long runs on a stack of their own. */
async function main(): Promise<void> {
  const durationS = Number(process.env.GIGATOK_SOAK_SECONDS ?? 30);
  const connections = Number(process.env.GIGATOK_SOAK_CONNECTIONS ?? 32);
  const memoryRounds = Number(process.env.GIGATOK_SOAK_MEMORY_ROUNDS ?? 20);
  const modelDir = process.env.GIGATOK_E2E_MODEL_DIR;
  const stateDir = path.join(repoRoot, '.local', `soak-${process.pid}`);
  const log = (line: string) => process.stderr.write(`[soak] ${line}\n`);
  const problems: string[] = [];
  log(`starting a stack (${modelDir ?? 'default model'}) ...`);
  const stack = await startStack({
    stateDir,
    ...(modelDir ? { modelDirs: [path.resolve(repoRoot, modelDir)] } : {}),
    workerVars: { MAX_QUEUED_JOBS_PER_TENANT: '32' },
    backendEnv: { GIGATOK_MAX_QUEUE: '64' },
  });
  try {
    // Up to ~1500 requests/s on loopback, two scenarios back to back: 400 per key and minute is safe.
    const { tenantId, keys } = await mintKeys(stack.apiUrl, stack.adminToken, 8);
    const needed = Math.ceil((2 * durationS * 1500) / 400);
    keys.push(...(await mintKeys(stack.apiUrl, stack.adminToken, Math.max(0, needed - 8), tenantId)).keys);
    const models = (await (
      await fetch(`${stack.apiUrl}/v1/models`, { headers: { authorization: `Bearer ${keys[0]}` } })
    ).json()) as { data: ModelFacts[] };
    const target = { apiUrl: stack.apiUrl, keys, model: models.data[0]! };
    log(`${keys.length} keys; load ${durationS} s x ${connections} connections`);
    const floor = await baseline(target, connections, Math.min(durationS, 10));
    log(JSON.stringify(floor));
    const tokens = await cachedTokens(target, connections, durationS);
    log(JSON.stringify(tokens));
    const hits = await tokenizeHits(target, connections, durationS);
    log(JSON.stringify(hits));
    const gen = await mintKeys(stack.apiUrl, stack.adminToken, 4);
    const saturation = await generationSaturation(
      {
        ...target,
        keys: gen.keys,
        backendUrl: stack.backendUrl,
        backendSecret: stack.backendSecret,
      },
      Math.min(connections, 8),
      Math.min(durationS, 20),
    );
    log(JSON.stringify(saturation));
    for (const f of [floor, tokens, hits]) {
      if (f.errors > 0 || Object.keys(f.statuses).some((k) => k !== '200')) {
        problems.push(`${f.scenario}: ${f.errors} connection errors, statuses ${JSON.stringify(f.statuses)}`);
      }
    }
    const { jobs } = saturation;
    if (jobs.failed > 0 || jobs.unfinished > 0) problems.push(`saturation: ${JSON.stringify(jobs)}`);
    for (const f of [saturation.backend, saturation.worker]) {
      const other = Object.keys(f.statuses).filter((k) => !['200', '202', '429'].includes(k));
      if (f.errors > 0 || other.length > 0 || (f.retry_after?.without ?? 0) > 0) {
        problems.push(`${f.scenario}: ${JSON.stringify(f)}`);
      }
    }
    recordSection('load.soak', {
      model: target.model.id,
      scenarios: [floor, tokens, hits, saturation.backend, saturation.worker],
      jobs: saturation.jobs,
      health_after: await healthy(stack),
    });

    log(`bad-input corpus, 1 + ${memoryRounds} backend rounds ...`);
    const corpusKey = (await mintKeys(stack.apiUrl, stack.adminToken, 1)).keys[0]!;
    const to = { ...stack, apiKey: corpusKey };
    const cases = await buildCorpus(target.model);
    const first = await runCorpus(cases, to);
    const rss = [await backendMetric(stack.backendUrl, 'process_resident_memory_bytes')];
    let failures = first.filter((o) => o.failures.length > 0).length;
    const backendCases = cases.filter((c) => c.target === 'backend');
    for (let round = 0; round < memoryRounds; round++) {
      failures += (await runCorpus(backendCases, to)).filter((o) => o.failures.length > 0).length;
      rss.push(await backendMetric(stack.backendUrl, 'process_resident_memory_bytes'));
    }
    const mib = rss.map((b) => Math.round(b / 2 ** 20));
    // The floor (the resident set right after a collection) is what a leak raises; single samples swing
    // by ~90 MiB with V8's collections while 50 MB bodies come and go.
    const half = Math.ceil(mib.length / 2);
    const floorGrowth = Math.min(...mib.slice(half)) - Math.min(...mib.slice(0, half));
    const health = await healthy(stack);
    recordSection('memory.soak', {
      rounds: memoryRounds,
      cases_per_round: backendCases.length,
      failures,
      rss_mib: mib,
      growth_mib: mib.at(-1)! - mib[0]!,
      floor_growth_mib: floorGrowth,
      floor_bound_mib: SOAK_FLOOR_BOUND_MIB,
      max_mib: Math.max(...mib),
      health_after: health,
    });
    log(`memory ${mib.join(' ')} MiB, floor growth ${floorGrowth} MiB, failures ${failures}`);
    if (failures > 0) problems.push(`${failures} corpus answers differed from their expectation`);
    if (floorGrowth > SOAK_FLOOR_BOUND_MIB) {
      problems.push(`backend memory floor grew ${floorGrowth} MiB (bound ${SOAK_FLOOR_BOUND_MIB})`);
    }
    if (Object.values(health).some((status) => status !== 200))
      problems.push(`unhealthy after the corpus: ${JSON.stringify(health)}`);
  } finally {
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
  log('npm audit --omit=dev ...');
  const result = await audit();
  recordSection('audit', result);
  log(JSON.stringify(result));
  const found = result.vulnerabilities as Record<string, number> | undefined;
  if ((found?.high ?? 0) + (found?.critical ?? 0) > 0) problems.push(`npm audit: ${JSON.stringify(found)}`);
  if (problems.length > 0) throw new Error(`soak found problems:\n  ${problems.join('\n  ')}`);
  log('all soak checks passed');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(
        `[soak] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
