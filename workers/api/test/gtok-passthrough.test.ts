// The backend's GTOK answer to /v1/encode is stored as it came, after the Worker checks it: CRC and
// framing, model, codebook and tokens per image against the manifest, and the image count.
import { env } from 'cloudflare:workers';
import { decodeTokens, encodeTokens, tokenRows } from '@gigatok/shared';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backend } from './backend-stub.ts';
import { api, newTenant, type TestKey, testPng } from './helpers.ts';

let alice: TestKey;
let seed = 90_000;

beforeAll(async () => {
  alice = await newTenant('alice');
});

afterEach(() => {
  backend.encodeGtok = undefined;
});

function tokenize(image: Uint8Array): Promise<Response> {
  return api(alice.key, '/v1/tokenize', {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: image as Uint8Array<ArrayBuffer>,
  });
}

describe('GTOK passthrough on tokenize', () => {
  it('stores the exact bytes the backend answered', async () => {
    let answered: Uint8Array | undefined;
    backend.encodeGtok = (gtok) => {
      answered = gtok.slice();
      return gtok;
    };
    const response = await tokenize(await testPng(seed++));
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: string };
    const stored = new Uint8Array(await (await env.ARTIFACTS.get(`tokens/${id}`))!.arrayBuffer());
    expect(stored).toEqual(answered);
  });

  const broken: [string, (gtok: Uint8Array) => Uint8Array][] = [
    [
      'a flipped payload bit (CRC mismatch)',
      (gtok) => {
        const out = gtok.slice();
        out[out.length - 5]! ^= 0x01;
        return out;
      },
    ],
    ['a truncated blob', (gtok) => gtok.slice(0, gtok.length - 3)],
    [
      'tokens of another model',
      (gtok) => {
        const set = decodeTokens(gtok);
        return encodeTokens({
          model: 'gigatok-other',
          codebookSize: set.codebookSize,
          tokensPerImage: set.tokensPerImage,
          tokens: tokenRows(set.tokens, set.tokensPerImage),
        });
      },
    ],
    [
      'two images for one',
      (gtok) => {
        const set = decodeTokens(gtok);
        const row = tokenRows(set.tokens, set.tokensPerImage)[0]!;
        return encodeTokens({
          model: set.model,
          codebookSize: set.codebookSize,
          tokensPerImage: set.tokensPerImage,
          tokens: [row, row],
        });
      },
    ],
  ];

  it.each(broken)('answers 502 backend_error and stores nothing for %s', async (_name, rewrite) => {
    backend.encodeGtok = rewrite;
    const before = await env.ARTIFACTS.list({ prefix: 'tokens/' });
    const response = await tokenize(await testPng(seed++));
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ code: 'backend_error' });
    const after = await env.ARTIFACTS.list({ prefix: 'tokens/' });
    expect(after.objects.length).toBe(before.objects.length);
  });
});
