// A real GIF for tests: the classic 43-byte 1x1 GIF89a (header, logical screen, a 2-colour table, a
// graphic control extension, one image of one LZW-coded pixel, trailer). The API recognises GIF and
// refuses it, so tests of that refusal need one whole, valid file.

// biome-ignore format: one line per GIF block
export const GIF89A_1X1: Uint8Array = Uint8Array.from([
  0x47, 0x49, 0x46, 0x38, 0x39, 0x61, // "GIF89a"
  0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, // 1x1, global colour table of 2 entries
  0xff, 0xff, 0xff, 0x00, 0x00, 0x00, // white, black
  0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, // graphic control extension: colour 0 transparent
  0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, // image descriptor: 1x1 at (0, 0)
  0x02, 0x02, 0x44, 0x01, 0x00, // LZW minimum code size 2, one 2-byte block, end of blocks
  0x3b, // trailer
]);
