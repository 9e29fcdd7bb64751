import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import doc from '../../docs/token-format.md?raw';
import { base32Encode } from './base32.ts';
import { sha256, sha256Hex } from './bytes.ts';
import { canonicalJSON } from './canonical-json.ts';
import {
  API_KEY_ID_RE,
  API_KEY_RE,
  contentId,
  GENERATION_KEY_RE,
  generateApiKey,
  generateWebhookSecret,
  generationParamsKey,
  hashApiKey,
  ID_DOMAINS,
  IMAGE_ID_RE,
  imageId,
  JOB_ID_RE,
  MESSAGE_ID_RE,
  MODEL_ID_RE,
  newApiKeyId,
  newJobId,
  newMessageId,
  TOKEN_ID_RE,
  TOKENIZE_KEY_RE,
  tokenizeKey,
  tokenSetId,
  WEBHOOK_SECRET_RE,
} from './ids.ts';
import { decodeTokens, tokenRows } from './token-format.ts';

const tokenSet = { model: 'gigatok-nano', codebook_size: 1024, tokens_per_image: 4, tokens: [[1, 2, 3, 4]] };
const imageSha = 'ab'.repeat(32);

describe('content ids', () => {
  it('hash the domain tag, a newline and the canonical JSON, and keep 20 bytes in base32', async () => {
    const expected = await sha256(
      'gigatok/tokens/v1\n{"codebook_size":1024,"model":"gigatok-nano","tokens":[[1,2,3,4]],"tokens_per_image":4}',
    );
    expect(await tokenSetId(tokenSet)).toBe(`tok_${base32Encode(expected.subarray(0, 20))}`);
  });

  it('have the documented formats', async () => {
    expect(await tokenSetId(tokenSet)).toMatch(TOKEN_ID_RE);
    expect(
      await tokenizeKey({
        model: 'gigatok-nano',
        preprocessing: 'resize-short-center-crop/v1',
        image_sha256: imageSha,
      }),
    ).toMatch(TOKENIZE_KEY_RE);
    expect(await imageId({ token_id: await tokenSetId(tokenSet), format: 'png' })).toMatch(IMAGE_ID_RE);
    expect(await generationParamsKey({ model: 'gigatok-nano', seed: 1 })).toMatch(GENERATION_KEY_RE);
  });

  it('are equal for equal requests whatever the key order', async () => {
    const a = await generationParamsKey({
      model: 'm',
      seed: 7,
      top_k: 0,
      output: { images: true, format: 'png' },
    });
    const b = await generationParamsKey({
      output: { format: 'png', images: true },
      top_k: 0,
      seed: 7,
      model: 'm',
    });
    expect(a).toBe(b);
    const t = await tokenSetId({
      tokens: [[1, 2, 3, 4]],
      tokens_per_image: 4,
      codebook_size: 1024,
      model: 'gigatok-nano',
    });
    expect(t).toBe(await tokenSetId(tokenSet));
  });

  it('differ when any content differs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 1023 }), { minLength: 4, maxLength: 4 }),
        fc.array(fc.integer({ min: 0, max: 1023 }), { minLength: 4, maxLength: 4 }),
        async (x, y) => {
          fc.pre(x.join() !== y.join());
          const a = await tokenSetId({ ...tokenSet, tokens: [x] });
          const b = await tokenSetId({ ...tokenSet, tokens: [y] });
          return a !== b;
        },
      ),
      { numRuns: 50 },
    );
    const base = await tokenSetId(tokenSet);
    expect(await tokenSetId({ ...tokenSet, model: 'other' })).not.toBe(base);
    expect(await tokenSetId({ ...tokenSet, codebook_size: 1025 })).not.toBe(base);
    expect(await imageId({ token_id: base, format: 'png' })).not.toBe(
      await imageId({ token_id: base, format: 'webp' }),
    );
  });

  it('never collide across kinds for the same JSON (domain separation)', async () => {
    const value = { model: 'm' };
    const a = await contentId('x', 'gigatok/tokens/v1', value);
    const b = await contentId('x', 'gigatok/image/v1', value);
    expect(a).not.toBe(b);
  });

  it('reject NaN and Infinity in hashed content', async () => {
    await expect(generationParamsKey({ cfg_scale: Number.NaN })).rejects.toThrow(TypeError);
    await expect(generationParamsKey({ temperature: Number.POSITIVE_INFINITY })).rejects.toThrow(TypeError);
  });

  it('refuse a tokenize key without a hex SHA-256', () => {
    expect(() => tokenizeKey({ model: 'm', preprocessing: 'p', image_sha256: 'AB'.repeat(32) })).toThrow(
      TypeError,
    );
  });
});

describe('random ids and secrets', () => {
  it('have the documented formats and do not repeat', () => {
    const jobs = new Set(Array.from({ length: 200 }, newJobId));
    expect(jobs.size).toBe(200);
    for (const id of jobs) expect(id).toMatch(JOB_ID_RE);
    expect(newApiKeyId()).toMatch(API_KEY_ID_RE);
    expect(newMessageId()).toMatch(MESSAGE_ID_RE);
    expect(generateApiKey()).toMatch(API_KEY_RE);
    expect(generateApiKey()).not.toBe(generateApiKey());
    const secret = generateWebhookSecret();
    expect(secret).toMatch(WEBHOOK_SECRET_RE);
    expect(atob(secret.slice('whsec_'.length)).length).toBe(24);
  });

  it('store API keys as hex SHA-256', async () => {
    const key = generateApiKey();
    expect(await hashApiKey(key)).toBe(await sha256Hex(key));
    expect(await hashApiKey(key)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('id patterns refuse look-alikes', () => {
    expect(TOKEN_ID_RE.test(`tok_${'a'.repeat(31)}`)).toBe(false);
    expect(TOKEN_ID_RE.test(`tok_${'A'.repeat(32)}`)).toBe(false);
    expect(TOKEN_ID_RE.test(`tok_${'1'.repeat(32)}`)).toBe(false);
    expect(TOKEN_ID_RE.test(`job_${'a'.repeat(32)}`)).toBe(false);
    expect(TOKEN_ID_RE.test(` tok_${'a'.repeat(32)}`)).toBe(false);
    expect(MODEL_ID_RE.test('gigatok-nano')).toBe(true);
    expect(MODEL_ID_RE.test('GigaTok')).toBe(false);
    expect(MODEL_ID_RE.test('-x')).toBe(false);
    expect(MODEL_ID_RE.test('a'.repeat(65))).toBe(false);
  });
});

describe('the token id worked example of docs/token-format.md', () => {
  // The doc's vector, read from the doc itself so that the text a client follows cannot drift from the code.
  const block = /<!-- token-id-example[^>]*-->\s*```\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
  const field = (name: string) => {
    const line = block.split('\n').find((l) => l.startsWith(`${name} `));
    if (!line) throw new Error(`docs/token-format.md: the token id example has no '${name}' line`);
    return line.slice(name.length).trim();
  };
  // The layout example's blob (docs/token-format.md, "Worked example" of the bit order).
  const blob = Uint8Array.from(
    (
      '47544f4b01000c' + // "GTOK", version 1, flags 0, model id length 12
      '67696761746f6b2d6e616e6f' + // "gigatok-nano"
      '000400000300000001000000' + // codebook size 1024, tokens per image 3, image count 1
      '0a' + // bits per token 10
      '0108f03f' + // payload
      '590e9ab6'
    ) // CRC-32C
      .match(/../g)!,
    (h) => Number.parseInt(h, 16),
  );

  it('follows from the decoded blob step by step: canonical JSON, SHA-256, 20 bytes, base32', async () => {
    const set = decodeTokens(blob);
    const value = {
      model: set.model,
      codebook_size: set.codebookSize,
      tokens_per_image: set.tokensPerImage,
      tokens: tokenRows(set.tokens, set.tokensPerImage),
    };
    expect(canonicalJSON(value)).toBe(field('canonical JSON'));
    expect(field('hashed string')).toBe(`${ID_DOMAINS.tokens}\\n${field('canonical JSON')}`);
    const digest = await sha256(`${ID_DOMAINS.tokens}\n${canonicalJSON(value)}`);
    expect(Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')).toBe(field('SHA-256'));
    expect(field('SHA-256').startsWith(field('first 20 bytes'))).toBe(true);
    expect(field('first 20 bytes')).toHaveLength(40);
    expect(`tok_${base32Encode(digest.subarray(0, 20))}`).toBe(field('id'));
    expect(await tokenSetId(value)).toBe(field('id'));
  });
});
