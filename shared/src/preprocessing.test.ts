import { describe, expect, it } from 'vitest';
import { sha256Hex } from './bytes.ts';
import { tokenizeKey } from './ids.ts';
import { PREPROCESSING_VERSION } from './preprocessing.ts';

describe('PREPROCESSING_VERSION', () => {
  it('keeps the tokenize keys already stored: the same bytes and model give the same tki_ as before', async () => {
    // A key written under this preprocessing; a different descriptor would make every stored key miss.
    expect(PREPROCESSING_VERSION).toBe('resize-short-center-crop/v1');
    const key = await tokenizeKey({
      model: 'gigatok-nano',
      preprocessing: PREPROCESSING_VERSION,
      image_sha256: await sha256Hex(new Uint8Array(0)),
    });
    expect(key).toBe('tki_t45f5yz3zlq24gtywgtqg23r36ukfy5p');
  });
});
