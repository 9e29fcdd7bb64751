import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.ts';
import {
  ACCEPTED_IMAGE_NAMES,
  ACCEPTED_IMAGE_TYPES,
  imageTypeProblem,
  isAcceptedImageType,
  requireAcceptedImage,
  sniffImageType,
} from './image-types.ts';
import { GIF89A_1X1 } from './testing/gif.ts';

const hex = (text: string) => Uint8Array.from(text.replace(/\s+/g, '').match(/../g)!, (b) => parseInt(b, 16));
const ascii = (text: string) => new TextEncoder().encode(text);

// Whole, valid files: the WebPs written by libvips, the classic 1x1 GIF89a (each decodes in libvips).
const FILES = {
  gif89a: GIF89A_1X1,
  webpLossless: hex(`
    52 49 46 46 1e 00 00 00 57 45 42 50 56 50 38 4c 11 00 00 00 2f 00 00 00 00 07 50 85 22 d7 a3
    ff 81 88 e8 7f 00 00`),
  webpLossy: hex(`
    52 49 46 46 38 00 00 00 57 45 42 50 56 50 38 20 2c 00 00 00 70 01 00 9d 01 2a 01 00 01 00 02
    c0 4c 25 a0 02 74 01 40 00 00 fe ef 51 2f 5e a9 6b 94 9b ff a4 d9 ff f4 9b 3f fe 93 67 c7 30
    00 00`),
};
// The first bytes of real files: a PNG (signature + IHDR start), a JFIF and a bare-DQT JPEG, a GIF87a.
const HEADS = {
  png: hex('89 50 4e 47 0d 0a 1a 0a 00 00 00 0d 49 48 44 52'),
  jfif: hex('ff d8 ff e0 00 10 4a 46 49 46 00 01'),
  jpegDqt: hex('ff d8 ff db 00 43 00 06 04 05 06 05'),
  gif87a: hex('47 49 46 38 37 61 0a 00 0a 00'),
};

describe('sniffImageType', () => {
  it('recognises PNG, JPEG, WebP (lossy and lossless) and GIF (87a and 89a) by their signatures', () => {
    expect(sniffImageType(HEADS.png)).toBe('image/png');
    expect(sniffImageType(HEADS.jfif)).toBe('image/jpeg');
    expect(sniffImageType(HEADS.jpegDqt)).toBe('image/jpeg');
    expect(sniffImageType(FILES.webpLossy)).toBe('image/webp');
    expect(sniffImageType(FILES.webpLossless)).toBe('image/webp');
    expect(sniffImageType(FILES.gif89a)).toBe('image/gif');
    expect(sniffImageType(HEADS.gif87a)).toBe('image/gif');
  });

  it('the GIF fixture is the 43-byte GIF89a', () => {
    expect(FILES.gif89a).toHaveLength(43);
    expect(FILES.gif89a.at(-1)).toBe(0x3b); // the trailer
  });

  it('recognises nothing else, whatever the bytes resemble', () => {
    const others = [
      ascii('{"image": "not really"}'),
      ascii('<svg xmlns="http://www.w3.org/2000/svg"/>'),
      ascii('RIFF\u0000\u0000\u0000\u0000WAVEfmt '), // RIFF, but audio
      ascii('RIFF\u0000\u0000\u0000\u0000WEBPXX'), // WEBP without a VP8 chunk
      ascii('GIF88a'),
      hex('89 50 4e 47 0d 0a 1a'), // PNG signature one byte short
      hex('ff d8'),
      hex('00 ff d8 ff'), // a JPEG signature one byte late
      new Uint8Array(0),
    ];
    for (const bytes of others) expect(sniffImageType(bytes), Array.from(bytes).join(' ')).toBeNull();
  });
});

describe('accepted types', () => {
  it('accepts PNG, JPEG and WebP, not GIF', () => {
    expect(ACCEPTED_IMAGE_TYPES).toEqual(['image/png', 'image/jpeg', 'image/webp']);
    expect(ACCEPTED_IMAGE_NAMES).toBe('PNG, JPEG or WebP');
    expect(isAcceptedImageType('image/webp')).toBe(true);
    expect(isAcceptedImageType('image/gif')).toBe(false);
    expect(isAcceptedImageType(null)).toBe(false);
  });
});

describe('imageTypeProblem and requireAcceptedImage', () => {
  it('let accepted images through with their type', () => {
    expect(imageTypeProblem(HEADS.png, 'image')).toBeNull();
    expect(requireAcceptedImage(HEADS.jfif, 'image')).toBe('image/jpeg');
    expect(requireAcceptedImage(FILES.webpLossless, 'images.0')).toBe('image/webp');
  });

  it('refuse a GIF with 415, naming it and the accepted types', () => {
    expect(imageTypeProblem(FILES.gif89a, 'image')).toEqual({
      code: 'unsupported_media_type',
      detail: "'image' is a GIF image; send PNG, JPEG or WebP",
      field: 'image',
    });
    const error = (() => {
      try {
        requireAcceptedImage(FILES.gif89a, 'images.0');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      status: 415,
      code: 'unsupported_media_type',
      field: 'images.0',
      message: "'images.0' is a GIF image; send PNG, JPEG or WebP",
    });
  });

  it('refuse other bytes with 415 and empty bytes with 400, in the field named', () => {
    expect(imageTypeProblem(ascii('<html></html>'), 'image')).toEqual({
      code: 'unsupported_media_type',
      detail: "'image' is not a PNG, JPEG or WebP image",
      field: 'image',
    });
    expect(imageTypeProblem(new Uint8Array(0), 'images.3')).toEqual({
      code: 'invalid_image',
      detail: "'images.3' is empty; send PNG, JPEG or WebP",
      field: 'images.3',
    });
    expect(() => requireAcceptedImage(new Uint8Array(0), 'image')).toThrow(
      expect.objectContaining({ status: 400, code: 'invalid_image' }),
    );
  });
});
