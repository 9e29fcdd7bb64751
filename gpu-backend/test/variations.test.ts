// Variations (generate with token prefixes) and embeddings (embed.onnx) on the real server over loopback
// with the tiny-random fixture (T = 8, V = 64, 4 classes), on the graph path and the per-step path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../src/server.ts';
import { expectProblem, postJson, testConfig } from './helpers.ts';

const MODEL = 'tiny-random';
const T = 8;

const sampling = { cfg_scale: 3, cfg_schedule: 'constant', temperature: 1.2, top_k: 0, top_p: 0.95 } as const;

let graphServer: RunningServer;
let stepsServer: RunningServer;

beforeAll(async () => {
  [graphServer, stepsServer] = await Promise.all([
    startServer(testConfig({ generatePath: 'graph' })),
    startServer(testConfig({ generatePath: 'steps' })),
  ]);
  await Promise.all([graphServer.loaded, stepsServer.loaded]);
});

afterAll(async () => {
  await Promise.all([graphServer?.close(), stepsServer?.close()]);
});

async function generate(
  url: string,
  seed: number,
  classIds: (number | null)[],
  prefixes?: number[][],
): Promise<number[][]> {
  const res = await postJson(url, '/v1/generate', {
    model: MODEL,
    seed,
    class_ids: classIds,
    ...sampling,
    ...(prefixes === undefined ? {} : { prefixes }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`generate answered ${res.status}: ${text}`);
  return (JSON.parse(text) as { tokens: number[][] }).tokens;
}

async function embed(url: string, tokens: number[][]) {
  const res = await postJson(url, '/v1/embed', { model: MODEL, tokens });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`embed answered ${res.status}: ${text}`);
  return JSON.parse(text) as { model: string; layer: number; dim: number; embeddings: number[][] };
}

function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  expect(a).toHaveLength(b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
}

/** A token row in [0, 64) from a small LCG, so rows differ from each other. */
function row(seed: number): number[] {
  let x = Math.imul(seed + 1, 2654435761) >>> 0;
  return Array.from({ length: T }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 26;
  });
}

describe('POST /v1/generate with prefixes (variations)', () => {
  const sources = [row(1), row(2), row(3)];

  it('uses distinct source rows', () => {
    expect(new Set(sources.map(String)).size).toBe(3);
  });

  it.each([
    ['graph', () => graphServer],
    ['steps', () => stepsServer],
  ])('returns every prefix token exactly, for any prefix length (%s path)', async (_name, server) => {
    for (const k of [1, 3, T - 1]) {
      const prefixes = sources.map((s) => s.slice(0, k));
      const tokens = await generate(server().url, 11, [0, null, 2], prefixes);
      for (const [i, t] of tokens.entries()) {
        expect(t).toHaveLength(T);
        expect(t.slice(0, k)).toEqual(prefixes[i]);
      }
    }
  });

  it('gives the same tokens on the graph and steps paths, prefix lengths mixed within a request', async () => {
    const prefixes = [sources[0]!.slice(0, 2), [], sources[2]!.slice(0, 5)];
    const a = await generate(graphServer.url, 5, [1, 1, 3], prefixes);
    const b = await generate(stepsServer.url, 5, [1, 1, 3], prefixes);
    expect(a).toEqual(b);
    // The sampled tail depends on the prefix (otherwise a prefix would mean nothing): across a few
    // seeds, other prefixes change some sampled token.
    let changed = false;
    for (const seed of [5, 6, 7, 8, 9, 10, 11, 12]) {
      const x = await generate(
        stepsServer.url,
        seed,
        [1, 3],
        [sources[0]!.slice(0, 3), sources[2]!.slice(0, 5)],
      );
      const y = await generate(
        stepsServer.url,
        seed,
        [1, 3],
        [sources[1]!.slice(0, 3), sources[0]!.slice(0, 5)],
      );
      if (x[0]!.slice(3).join() !== y[0]!.slice(3).join() || x[1]!.slice(5).join() !== y[1]!.slice(5).join())
        changed = true;
    }
    expect(changed).toBe(true);
  });

  it('with empty prefixes equals plain generation for the same seed (k = 0)', async () => {
    for (const server of [graphServer, stepsServer]) {
      const plain = await generate(server.url, 99, [0, 3, null]);
      expect(await generate(server.url, 99, [0, 3, null], [[], [], []])).toEqual(plain);
    }
  });

  it("keeps each later position's randomness: a prefix of the plain result's own first tokens gives it back whole", async () => {
    const plain = await generate(graphServer.url, 1234, [2, null]);
    for (const k of [1, 4, T - 1]) {
      const prefixes = plain.map((t) => t.slice(0, k));
      expect(await generate(graphServer.url, 1234, [2, null], prefixes)).toEqual(plain);
      expect(await generate(stepsServer.url, 1234, [2, null], prefixes)).toEqual(plain);
    }
  });

  it('gives the same tokens when requests with different prefix lengths arrive together (graph runs grouped by length)', async () => {
    const bodies = [0, 1, 2, 3, 4, 5].map((i) => ({
      seed: 300 + i,
      classes: [i % 4, null],
      prefixes: [sources[i % 3]!.slice(0, i % 4), sources[(i + 1) % 3]!.slice(0, (i + 2) % 4)],
    }));
    const together = await Promise.all(
      bodies.map((b) => generate(graphServer.url, b.seed, b.classes, b.prefixes)),
    );
    for (const [i, b] of bodies.entries()) {
      expect(together[i]).toEqual(await generate(stepsServer.url, b.seed, b.classes, b.prefixes));
    }
  });

  it('refuses prefixes that do not fit the model, naming the entry and the limit', async () => {
    const send = (prefixes: unknown) =>
      postJson(graphServer.url, '/v1/generate', {
        model: MODEL,
        seed: 1,
        class_ids: [0, 1],
        ...sampling,
        prefixes,
      });
    let p = await expectProblem(await send([row(1), []]), 400, 'invalid_parameter');
    expect(p).toMatchObject({ field: 'prefixes.0', limit: T - 1 });
    p = await expectProblem(await send([[1, 64], []]), 400, 'invalid_parameter');
    expect(p).toMatchObject({ field: 'prefixes.0.1', limit: '[0, 63]' });
    p = await expectProblem(await send([[1]]), 400, 'invalid_parameter');
    expect(p.field).toBe('prefixes');
  });
});

describe('POST /v1/embed', () => {
  const rows = [row(4), row(5), row(6)];

  it('answers one vector per row at layer n_layer / 2, deterministic, batched equal to unbatched', async () => {
    const all = await embed(graphServer.url, rows);
    expect(all).toMatchObject({ model: MODEL, layer: 1 });
    expect(all.embeddings).toHaveLength(3);
    for (const v of all.embeddings) {
      expect(v).toHaveLength(all.dim);
      expect(v.every(Number.isFinite)).toBe(true);
    }
    expect(all.dim).toBeGreaterThan(1);
    expect(all.embeddings[0]).not.toEqual(all.embeddings[1]);
    expect(await embed(graphServer.url, rows)).toEqual(all);
    // One row at a time, and concurrent single rows merged into runs by the batcher: the same vectors
    // up to float32 rounding (ONNX Runtime's MatMul blocks differently for other batch sizes, which
    // moves the last bit of a few values; measured max difference ~1e-8, bound 1e-6).
    for (const [i, r] of rows.entries()) {
      const single = (await embed(graphServer.url, [r])).embeddings[0]!;
      expect(maxAbsDiff(single, all.embeddings[i]!)).toBeLessThanOrEqual(1e-6);
    }
    const merged = await Promise.all(rows.map((r) => embed(graphServer.url, [r])));
    for (const [i, m] of merged.entries()) {
      expect(maxAbsDiff(m.embeddings[0]!, all.embeddings[i]!)).toBeLessThanOrEqual(1e-6);
    }
    // The per-step server loads the same graph.
    expect(await embed(stepsServer.url, rows)).toEqual(all);
    const metrics = await (await fetch(`${graphServer.url}/metrics`)).text();
    expect(metrics).toMatch(/nv_inference_exec_count\{model="tiny-random",graph="embed"\} [1-9]/);
  });

  it('values are float32 numbers (they read back unchanged through Math.fround)', async () => {
    const { embeddings } = await embed(graphServer.url, [rows[0]!]);
    for (const x of embeddings[0]!) expect(Math.fround(x)).toBe(x);
  });

  it('refuses rows that do not fit the model', async () => {
    const p = await expectProblem(
      await postJson(graphServer.url, '/v1/embed', { model: MODEL, tokens: [row(1).slice(0, 5)] }),
      400,
      'invalid_tokens',
    );
    expect(p).toMatchObject({ field: 'tokens.0', limit: T });
    await expectProblem(
      await postJson(graphServer.url, '/v1/embed', { model: MODEL, tokens: [] }),
      400,
      'invalid_parameter',
    );
  });
});
