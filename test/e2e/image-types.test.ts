// One answer for an upload's type whichever piece judges it: the Worker refuses what is not PNG, JPEG or
// WebP before calling the backend, and the backend, asked directly, refuses the same bytes with the same
// status, code and words (shared's imageTypeProblem), only the field named as each API names it.
import { imageTypeProblem, ProblemSchema, toBase64 } from '@gigatok/shared';
import { GIF89A_1X1 } from '@gigatok/shared/testing/gif';
import { beforeAll, describe, expect, it } from 'vitest';
import { backendCounter, newTenant, stack } from '../lib/api.ts';
import { send, type Target } from '../lib/probe.ts';

let target: Target;
let model: string;

beforeAll(async () => {
  const { key } = await newTenant('image-types');
  target = { ...stack(), apiKey: key };
  const models = (await (
    await fetch(`${stack().apiUrl}/v1/models`, { headers: { authorization: `Bearer ${key}` } })
  ).json()) as {
    data: { id: string }[];
  };
  model = models.data[0]!.id;
});

const text = (value: string) => new TextEncoder().encode(value);

describe('image types', () => {
  it.each([
    ['a valid 43-byte GIF89a', GIF89A_1X1],
    ['an SVG', text('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>')],
    ['an HTML page', text('<!doctype html><title>x</title>')],
  ])(
    '%s gets the same refusal from the Worker and the backend, with no backend call from the Worker',
    async (_, bytes) => {
      const encodes = await backendCounter('gigatok_http_requests_total', { route: '/v1/encode' });
      const worker = await send(
        {
          method: 'POST',
          path: `/v1/tokenize?model=${model}`,
          headers: { 'content-type': 'image/png' },
          body: bytes,
        },
        'worker',
        target,
      );
      const viaWorker = ProblemSchema.parse(await worker.json());
      expect(await backendCounter('gigatok_http_requests_total', { route: '/v1/encode' })).toBe(encodes);
      const backend = await send(
        {
          method: 'POST',
          path: '/v1/encode',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model, images: [toBase64(bytes)] }),
        },
        'backend',
        target,
      );
      const viaBackend = ProblemSchema.parse(await backend.json());
      const expected = imageTypeProblem(bytes, 'image')!;
      expect(viaWorker).toMatchObject({
        status: 415,
        code: expected.code,
        detail: expected.detail,
        field: 'image',
      });
      expect(viaBackend).toMatchObject({
        status: 415,
        code: expected.code,
        detail: imageTypeProblem(bytes, 'images.0')!.detail,
        field: 'images.0',
      });
    },
  );
});
