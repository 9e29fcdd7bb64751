// The bad-input corpus (test/lib/bad-inputs.ts) against the real stack: every case through the Worker
// with an API key and, where the backend has the same route, straight to the backend with a signed
// request. Each must be answered with the expected 4xx problem+json naming code and field, never a 5xx;
// both servers must stay healthy, the backend's resident memory must not grow over repeated runs, and no
// secret may appear in any answer or in the servers' logs. Figures go to test-output/reliability.json.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, newTenant, stack } from '../lib/api.ts';
import { type BadInput, buildCorpus, type ModelFacts } from '../lib/bad-inputs.ts';
import { backendMetric, findSecrets, healthy, type Outcome, runCorpus, type Target } from '../lib/probe.ts';
import { recordSection } from '../lib/report.ts';

/** Backend-only corpus rounds after the first full run, for the memory check (test:soak runs more). */
const MEMORY_ROUNDS = Number(process.env.GIGATOK_MEMORY_ROUNDS ?? 3);
/**
 * Allowed growth of the backend's resident set: the lowest reading after the later rounds against the
 * reading before them. A round sends ~100 MB of bodies (a 50 MB one among them), so a server that kept
 * even one round's bodies would stay above it at every later reading; below it, RSS moves with V8's
 * garbage collection (seen: +-50 MB between rounds, and once +96 MB at a single reading), which is why
 * the lowest later reading counts and not the last one.
 */
const MEMORY_BOUND_MIB = 96;
const MiB = 2 ** 20;

let to: Target;
let cases: BadInput[];
let outcomes: Outcome[] = [];
let model: ModelFacts;
let durationMs = 0;
const results: Record<string, unknown> = {};

beforeAll(async () => {
  const tenant = await newTenant('corpus');
  const { apiUrl, backendUrl, backendSecret } = stack();
  to = { apiUrl, backendUrl, backendSecret, apiKey: tenant.key };
  model = ((await (await api(tenant.key, '/v1/models')).json()) as { data: ModelFacts[] }).data[0]!;
  cases = await buildCorpus(model);
});

afterAll(() => {
  if (outcomes.length === 0) return;
  const groups: Record<string, { cases: number; passed: number }> = {};
  const statuses: Record<string, number> = {};
  for (const o of outcomes) {
    const name = `${o.target}: ${o.group}`;
    const g = groups[name] ?? { cases: 0, passed: 0 };
    groups[name] = g;
    g.cases++;
    if (o.failures.length === 0) g.passed++;
    const status = o.status === 0 ? 'connection reset' : String(o.status);
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  recordSection('corpus', {
    model: model.id,
    cases: outcomes.length,
    passed: outcomes.filter((o) => o.failures.length === 0).length,
    worker_cases: outcomes.filter((o) => o.target === 'worker').length,
    backend_cases: outcomes.filter((o) => o.target === 'backend').length,
    five_xx: outcomes.filter((o) => o.status >= 500).length,
    duration_ms: Math.round(durationMs),
    groups,
    statuses,
    failures: outcomes.filter((o) => o.failures.length > 0).map((o) => `${o.name}: ${o.failures.join('; ')}`),
    ...results,
  });
});

describe('bad-input corpus', () => {
  it('answers every case with its 4xx problem+json (code and field), never a 5xx', async () => {
    const started = performance.now();
    outcomes = await runCorpus(cases, to);
    durationMs = performance.now() - started;
    const failed = outcomes.filter((o) => o.failures.length > 0);
    expect(failed.map((o) => `[${o.target}] ${o.name}: ${o.failures.join('; ')}`)).toEqual([]);
    expect(outcomes.filter((o) => o.status >= 500)).toEqual([]);
    // The corpus covers both targets and every group the brief names.
    expect(new Set(outcomes.map((o) => o.group))).toEqual(
      new Set([
        'corrupt image',
        'decompression bomb',
        'extreme shape',
        'size',
        'content type',
        'polyglot',
        'tokens',
        'numbers',
        'model',
        'malformed JSON',
        'query',
        'headers',
        'idempotency',
      ]),
    );
  });

  it('leaves the Worker and the backend healthy (healthz, readyz) after the corpus', async () => {
    const health = await healthy(to);
    results.health_after = health;
    expect(health).toEqual({ 'worker /v1/healthz': 200, 'backend /healthz': 200, 'backend /readyz': 200 });
    // And still serving: a real request works.
    const models = await api(to.apiKey, '/v1/models');
    expect(models.status).toBe(200);
  });

  it(`keeps the backend's resident memory within ${MEMORY_BOUND_MIB} MiB over ${MEMORY_ROUNDS} more rounds`, async () => {
    const backendCases = cases.filter((c) => c.target === 'backend');
    const rss = [await backendMetric(to.backendUrl, 'process_resident_memory_bytes')];
    for (let round = 0; round < MEMORY_ROUNDS; round++) {
      const again = await runCorpus(backendCases, to);
      expect(again.filter((o) => o.failures.length > 0).map((o) => o.name)).toEqual([]);
      rss.push(await backendMetric(to.backendUrl, 'process_resident_memory_bytes'));
    }
    const growthMiB = (Math.min(...rss.slice(1)) - rss[0]!) / MiB;
    results.memory = {
      rounds: MEMORY_ROUNDS,
      cases_per_round: backendCases.length,
      rss_mib: rss.map((b) => Math.round(b / MiB)),
      growth_mib: Math.round(growthMiB),
      bound_mib: MEMORY_BOUND_MIB,
    };
    expect(growthMiB).toBeLessThanOrEqual(MEMORY_BOUND_MIB);
  });

  it('shows no backend secret, admin token or API key in any answer or in the servers’ logs', () => {
    const { backendSecret, adminToken, logFile } = stack();
    const secrets = [
      { name: 'backend secret', value: backendSecret },
      { name: 'admin token', value: adminToken },
      { name: 'API key', value: to.apiKey },
    ];
    const texts = [
      ...outcomes.map((o) => ({ where: `answer to '${o.name}'`, text: `${o.headers}\n${o.body}` })),
      { where: 'the stack log', text: readFileSync(logFile, 'utf8') },
    ];
    const found = findSecrets(texts, secrets);
    results.secret_scan = { texts: texts.length, secrets: secrets.length, found: found.length };
    expect(found).toEqual([]);
    // The scan can find what it looks for.
    expect(findSecrets([{ where: 'probe', text: `x${adminToken}x` }], secrets)).toEqual([
      'admin token in probe',
    ]);
  });
});
