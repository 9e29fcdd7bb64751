// Classes named by label in POST /v1/generations and POST /v1/variations, against the labels the backend's
// /v1/models reports: a 1000-class model with the ImageNet-1k names the exporter ships, and the shipped
// gigatok-nano (labels "0".."9"). Labels resolve to ids before the parameters are keyed, so a label and its
// id share one cached result; unknown and ambiguous labels are 400s naming the field.
import { type Generation, GenerationSchema, type ManifestSummary, toBase64 } from '@gigatok/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import imagenetText from '../../../gpu-backend/model/gigatok_model/data/imagenet1k_labels.txt?raw';
import { backend, NANO } from './backend-stub.ts';
import { api, newTenant, postJson, type TestKey, testPng } from './helpers.ts';

const IMAGENET = imagenetText.split('\n').slice(0, -1);
// The nano shapes (so the stub's tokens fit) with the classes of an ImageNet GPT.
const IN1K: ManifestSummary = {
  ...NANO,
  id: 'gigatok-nano-in1k',
  num_classes: 1000,
  class_labels: IMAGENET,
};
// Before this file's first request: the Worker keeps the model list for a minute.
backend.models.push(IN1K);

let alice: TestKey;
let nextSeed = 90_000;

beforeAll(async () => {
  alice = await newTenant('alice-class-labels');
});

async function generate(body: Record<string, unknown>, path = '/v1/generations') {
  const response = await postJson(alice.key, path, body, { prefer: 'wait=10' });
  const text = await response.text();
  return {
    response,
    body: JSON.parse(text) as Record<string, unknown>,
    job: response.status < 300 ? GenerationSchema.parse(JSON.parse(text)) : null,
  };
}

function expectProblem(result: { response: Response; body: Record<string, unknown> }, field: string): string {
  expect(result.response.status).toBe(400);
  expect(result.response.headers.get('content-type')).toBe('application/problem+json');
  expect(result.body).toMatchObject({ status: 400, code: 'invalid_parameter', field });
  return result.body.detail as string;
}

describe('class labels', () => {
  it('lists the class names of each model in GET /v1/models', async () => {
    const { data } = (await (await api(alice.key, '/v1/models')).json()) as { data: ManifestSummary[] };
    const in1k = data.find((m) => m.id === IN1K.id)!;
    expect(in1k.class_labels).toHaveLength(1000);
    expect(in1k.class_labels[207]).toBe('golden retriever');
    expect(data.find((m) => m.id === 'gigatok-nano')!.class_labels).toEqual(NANO.class_labels);
  });

  it('generates a class named by label as by its id, and serves the id request from the same cached result', async () => {
    const seed = nextSeed++;
    const byLabel = await generate({ model: IN1K.id, class_id: 'golden retriever', seed, count: 2 });
    expect(byLabel.response.status).toBe(201);
    expect(byLabel.job).toMatchObject({
      status: 'succeeded',
      cached: false,
      params: { class_ids: [207, 207] },
    });
    expect(byLabel.job!.result!.images.map((i) => i.class_id)).toEqual([207, 207]);
    expect(backend.generateCalls(seed)).toHaveLength(1);
    expect((backend.generateCalls(seed)[0]!.body as { class_ids: number[] }).class_ids).toEqual([207, 207]);

    const byId = await generate({ model: IN1K.id, class_id: 207, seed, count: 2 });
    expect(byId.job).toMatchObject({
      status: 'succeeded',
      cached: true,
      params_key: byLabel.job!.params_key,
    });
    expect(byId.job!.result).toEqual(byLabel.job!.result);
    const otherCase = await generate({ model: IN1K.id, class_id: ['GOLDEN retriever', 207], seed });
    expect(otherCase.job).toMatchObject({ cached: true, params_key: byLabel.job!.params_key });
    expect(backend.generateCalls(seed)).toHaveLength(1);
  });

  it('takes labels and ids mixed, one per image', async () => {
    const { job } = await generate({
      model: IN1K.id,
      class_id: ['tench', 1, null, 'Toilet Tissue'],
      seed: nextSeed++,
    });
    expect(job!.params.class_ids).toEqual([0, 1, null, 999]);
  });

  it('refuses an unknown label with a 400 naming the field and near matches, sending nothing to the backend', async () => {
    const seed = nextSeed++;
    const detail = expectProblem(
      await generate({ model: IN1K.id, class_id: 'golden retreiver', seed }),
      'class_id',
    );
    expect(detail).toMatch(
      /^'class_id' names no class label of model 'gigatok-nano-in1k': "golden retreiver"; near matches: 207 "golden retriever"/,
    );
    expect(detail.match(/\d+ "[^"]+"/g)).toHaveLength(5);
    const inList = await generate({ model: IN1K.id, class_id: [3, 'retriever'], seed });
    expect(expectProblem(inList, 'class_id.1')).toContain('208 "Labrador retriever"');
    expect(backend.generateCalls(seed)).toHaveLength(0);
  });

  it('refuses a label two classes share under case folding, listing both ids; each exact spelling names one', async () => {
    const detail = expectProblem(await generate({ model: IN1K.id, class_id: 'CARDIGAN' }), 'class_id');
    expect(detail).toContain('matches 2 classes');
    expect(detail).toContain('264 "Cardigan", 474 "cardigan"');
    expect(
      (await generate({ model: IN1K.id, class_id: 'Cardigan', seed: nextSeed++ })).job!.params.class_ids,
    ).toEqual([264]);
    expect(
      (await generate({ model: IN1K.id, class_id: 'cardigan', seed: nextSeed++ })).job!.params.class_ids,
    ).toEqual([474]);
  });

  it('still range-checks ids and refuses what is neither an id nor a label', async () => {
    expect(
      (await generate({ model: IN1K.id, class_id: 999, seed: nextSeed++ })).job!.params.class_ids,
    ).toEqual([999]);
    expect(expectProblem(await generate({ model: IN1K.id, class_id: 1000 }), 'class_id')).toContain(
      'the model has 1000 classes',
    );
    expect(expectProblem(await generate({ model: IN1K.id, class_id: '' }), 'class_id')).toContain(
      'or a class label',
    );
    expect(expectProblem(await generate({ model: IN1K.id, class_id: true }), 'class_id')).toContain(
      'got true',
    );
  });

  it("resolves against the requested model's own labels", async () => {
    // gigatok-nano's labels are the digits: "7" is its class 7, and not an ImageNet label.
    const nano = await generate({ class_id: '7', seed: nextSeed++ });
    expect(nano.job).toMatchObject({ model: 'gigatok-nano', params: { class_ids: [7] } });
    expect(expectProblem(await generate({ class_id: 'golden retriever' }), 'class_id')).toContain(
      "no class label of model 'gigatok-nano'",
    );
    const digits = expectProblem(await generate({ model: IN1K.id, class_id: '7' }), 'class_id');
    expect(digits).toContain('to name class 7 by id, send it as a JSON number');
  });

  it('takes a label in POST /v1/variations', async () => {
    const tokens = (await (
      await postJson(alice.key, '/v1/tokenize', { image: toBase64(testPng(41)) })
    ).json()) as { id: string };
    const ok = await generate(
      { token_id: tokens.id, keep: 4, class_id: '3', seed: nextSeed++ },
      '/v1/variations',
    );
    expect((ok.job as Generation).params).toMatchObject({ class_ids: [3], variation: { keep: 4 } });
    const bad = await generate({ token_id: tokens.id, class_id: 'three' }, '/v1/variations');
    expect(expectProblem(bad, 'class_id')).toContain("names no class label of model 'gigatok-nano'");
  });
});
