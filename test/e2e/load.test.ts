// A short load run against the shared stack (npm run test:soak runs the long one, with the saturated
// generation scenario): cached token reads and tokenize cache hits under concurrent clients must answer
// 200 every time, with no connection error. Figures go to test-output/reliability.json (load.ci).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stack } from '../lib/api.ts';
import type { ModelFacts } from '../lib/bad-inputs.ts';
import { recordSection } from '../lib/report.ts';
import {
  baseline,
  cachedTokens,
  type LoadFigures,
  type LoadTarget,
  mintKeys,
  tokenizeHits,
} from '../soak/load.ts';

const SECONDS = Number(process.env.GIGATOK_LOAD_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.GIGATOK_LOAD_CONNECTIONS ?? 8);

let target: LoadTarget;
const figures: LoadFigures[] = [];

beforeAll(async () => {
  const { apiUrl, adminToken } = stack();
  // Each key may make 600 requests a minute (RATE_LIMITER); 16 keys leave room for ~1500 requests/s.
  const { keys } = await mintKeys(apiUrl, adminToken, 16);
  const models = (await (
    await fetch(`${apiUrl}/v1/models`, { headers: { authorization: `Bearer ${keys[0]}` } })
  ).json()) as { data: ModelFacts[] };
  target = { apiUrl, keys, model: models.data[0]! };
});

afterAll(() => {
  if (figures.length > 0) recordSection('load.ci', { scenarios: figures });
});

describe(`load (${CONNECTIONS} connections, ${SECONDS} s each)`, () => {
  it('answers the health route with only 200s (the floor of the local runtime)', async () => {
    const result = await baseline(target, CONNECTIONS, 2);
    figures.push(result);
    expect(result.errors).toBe(0);
    expect(result.statuses).toEqual({ '200': result.requests });
  });

  it('serves cached token sets with only 200s and no connection error', async () => {
    const result = await cachedTokens(target, CONNECTIONS, SECONDS);
    figures.push(result);
    expect(result.requests).toBeGreaterThan(0);
    expect(result.errors).toBe(0);
    expect(result.statuses).toEqual({ '200': result.requests });
  });

  it('answers repeated tokenize requests from the cache with only 200s and no connection error', async () => {
    const result = await tokenizeHits(target, CONNECTIONS, SECONDS);
    figures.push(result);
    expect(result.requests).toBeGreaterThan(0);
    expect(result.errors).toBe(0);
    // Every answer a 200 and a cache hit (the image was tokenized once before, by cachedTokens).
    expect(result.statuses).toEqual({ '200': result.requests });
  });
});
