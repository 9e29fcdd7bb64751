import { describe, expect, it } from 'vitest';
import { tokenSetId } from '../ids.ts';
import { decodeTokens, encodeTokens } from '../token-format.ts';
import { TokensResponseSchema } from './public.ts';
import { tokensResponse } from './tokens-response.ts';

describe('tokensResponse', () => {
  it('gives the schema-valid JSON view of a decoded GTOK blob, rows per image', async () => {
    const rows = [
      [1, 2, 1023],
      [0, 512, 7],
    ];
    const set = decodeTokens(
      encodeTokens({ model: 'gigatok-nano', codebookSize: 1024, tokensPerImage: 3, tokens: rows }),
    );
    const id = await tokenSetId({
      model: 'gigatok-nano',
      codebook_size: 1024,
      tokens_per_image: 3,
      tokens: rows,
    });
    const body = tokensResponse(id, set);
    expect(body).toEqual({
      id,
      object: 'tokens',
      model: 'gigatok-nano',
      codebook_size: 1024,
      tokens_per_image: 3,
      shape: [2, 3],
      tokens: rows,
    });
    expect(TokensResponseSchema.parse(body)).toEqual(body);
  });
});
