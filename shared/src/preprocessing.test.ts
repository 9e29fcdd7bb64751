import { describe, expect, it } from 'vitest';
import { sha256Hex } from './bytes.ts';
import { tokenizeKey } from './ids.ts';
import {
  DEFAULT_PREPROCESSING,
  PREPROCESSING_VERSION,
  PreprocessingModeSchema,
  preprocessingDescriptor,
} from './preprocessing.ts';

const keyOf = async (preprocessing: string) =>
  tokenizeKey({
    model: 'gigatok-nano',
    preprocessing,
    image_sha256: await sha256Hex(new Uint8Array(0)),
  });

describe('PREPROCESSING_VERSION', () => {
  it('pins the tokenize key of each mode: the same bytes and model give the same tki_ as stored', async () => {
    expect(PREPROCESSING_VERSION).toBe('adm-center-crop-pil-bicubic/v2');
    expect(await keyOf(preprocessingDescriptor('official'))).toBe('tki_f7ubzwiiapkijtwtrf6ezg6qkgy7k5dl');
    expect(await keyOf(preprocessingDescriptor('normalized'))).toBe('tki_4krdzu5ilqxeopm6jtoej77xffeceyx6');
  });

  it('keys the two modes and the previous version apart, so no cached token set crosses them', async () => {
    const keys = new Set([
      await keyOf(preprocessingDescriptor('official')),
      await keyOf(preprocessingDescriptor('normalized')),
      await keyOf('resize-short-center-crop/v1'),
    ]);
    expect(keys.size).toBe(3);
  });

  it("defaults to 'official' and refuses other modes naming the field", () => {
    expect(DEFAULT_PREPROCESSING).toBe('official');
    const bad = PreprocessingModeSchema.safeParse('lanczos');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toContain("'preprocessing'");
  });
});
