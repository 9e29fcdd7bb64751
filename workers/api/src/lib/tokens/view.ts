// The public JSON view of a token set: the body of POST /v1/tokenize and GET /v1/tokens/{id}.
import { type TokenSet, tokenRows } from '@gigatok/shared';

export interface TokensBody {
  id: string;
  object: 'tokens';
  model: string;
  codebook_size: number;
  tokens_per_image: number;
  shape: [number, number];
  tokens: number[][];
}

export function tokensBody(id: string, set: TokenSet): TokensBody {
  return {
    id,
    object: 'tokens',
    model: set.model,
    codebook_size: set.codebookSize,
    tokens_per_image: set.tokensPerImage,
    shape: [set.count, set.tokensPerImage],
    tokens: tokenRows(set.tokens, set.tokensPerImage),
  };
}
