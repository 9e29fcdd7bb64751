// A job generated in chunks (several /v1/generate calls, each passing its first image's index) gets the
// tokens one call of the whole job gives, on the embedded gigatok-nano; and GET /v1/models reports the
// measured seconds per image once the model has served a call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir } from '../src/config.ts';
import { type RunningServer, startServer } from '../src/server.ts';
import { postJson, signedFetch, testConfig } from './helpers.ts';

const MODEL = 'gigatok-nano';
const CLASS_IDS = [3, null, 7, 7, 1, 9];

describe('chunked /v1/generate on gigatok-nano', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(testConfig({ modelDirs: [defaultModelDir], intraOpThreads: 2 }));
    await server.loaded;
  });
  afterAll(async () => {
    await server?.close();
  });

  const models = async () =>
    (await (await signedFetch(server.url, '/v1/models')).json()) as {
      estimated_seconds_per_image: Record<string, number>;
    };

  const generate = async (classIds: (number | null)[], firstIndex?: number) => {
    const res = await postJson(server.url, '/v1/generate', {
      model: MODEL,
      seed: 4242,
      class_ids: classIds,
      cfg_scale: 3,
      cfg_schedule: 'constant',
      temperature: 1,
      top_k: 0,
      top_p: 1,
      ...(firstIndex === undefined ? {} : { first_index: firstIndex }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    return ((await res.json()) as { tokens: number[][] }).tokens;
  };

  it('reports no speed before the first generate call', async () => {
    expect((await models()).estimated_seconds_per_image).toEqual({});
  });

  it('gives every image the same tokens whether the job runs as one call or as chunks', async () => {
    const whole = await generate(CLASS_IDS);
    const chunks = [
      await generate(CLASS_IDS.slice(0, 2), 0),
      await generate(CLASS_IDS.slice(2, 5), 2),
      await generate(CLASS_IDS.slice(5), 5),
    ].flat();
    expect(chunks).toEqual(whole);
    // Without first_index a chunk would redraw the first images' uniforms: the offset is what matters.
    expect(await generate(CLASS_IDS.slice(2, 5))).not.toEqual(whole.slice(2, 5));
  });

  it('reports the measured seconds per image once the model has served calls', async () => {
    const seconds = (await models()).estimated_seconds_per_image[MODEL];
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(60);
  });
});
