// The bad-input corpus: malformed, hostile and oversized requests for the Worker's public routes and the
// backend's internal ones, each with the RFC 9457 problem it must be answered with. Every file is made
// here (valid images from sharp, then cut, flipped or re-labelled; PNG bombs from shared's test encoder), so the
// corpus needs no fixtures and follows the model the stack serves.
import { crc32 } from 'node:zlib';
import { type ErrorCode, encodeTokens, toBase64 } from '@gigatok/shared';
import { encodeGreyPng, encodePng, PNG_SIGNATURE as PNG_SIGNATURE_BYTES } from '@gigatok/shared/testing/png';
import sharp from 'sharp';

/** What the model looks like, from GET /v1/models: the corpus aims just past its limits. */
export interface ModelFacts {
  id: string;
  tokens_per_image: number;
  codebook_size: number;
  num_classes: number;
}

export interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

export interface BadInput extends RequestSpec {
  /** Unique, says what is wrong. */
  name: string;
  group: string;
  /** `worker`: the public API with an API key; `backend`: the GPU backend, signed with the shared secret. */
  target: 'worker' | 'backend';
  /** The problem expected; `status` 200 marks input that is valid after all (see `sameTokensAs`). */
  expect: {
    status: number;
    code?: ErrorCode;
    field?: string;
    problemJson?: boolean;
    /** The server may also reset the connection instead (it refuses before reading the whole request). */
    resetAllowed?: boolean;
  };
  /** Sent first and expected to succeed (an Idempotency-Key's first use). */
  prelude?: RequestSpec;
  /** For a polyglot that is still a complete image: tokenizing it must give this image's token set. */
  sameTokensAs?: Uint8Array;
}

// ---------------------------------------------------------------------------------------------------------
// Images

const PNG_SIGNATURE = Buffer.from(PNG_SIGNATURE_BYTES);

/**
 * A PNG whose IHDR claims width x height (its CRC recomputed, so the header reads as valid) over the
 * pixel data of a 1x1 image: a header bomb, refused from the header before any decoding.
 */
export function pngHeaderBomb(width: number, height: number): Buffer {
  const png = Buffer.from(encodePng(1, 1, new Uint8Array(3)));
  // Signature (8), IHDR length (4) and type (4), then width and height; the CRC covers type and data.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

/**
 * A complete, valid 1-bit greyscale PNG of side x side black pixels: a few KB that inflate to side^2
 * pixels (49 megapixels at 7000, over the 40 MP limit). A real decompression bomb, not a lying header.
 */
export function pngRealBomb(side: number): Buffer {
  return Buffer.from(encodeGreyPng(side, side, 1, new Uint8Array(Math.ceil(side / 8) * side)));
}

export interface ImageSet {
  png: Buffer;
  jpeg: Buffer;
  webp: Buffer;
  webpLossless: Buffer;
  gif: Buffer;
}

/** Valid 32x32 test images in every format (a colour ramp, so no encoder takes a shortcut). */
export async function validImages(): Promise<ImageSet> {
  const rgb = new Uint8Array(32 * 32 * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) & 0xff;
  const base = () => sharp(rgb, { raw: { width: 32, height: 32, channels: 3 } });
  return {
    png: await base().png().toBuffer(),
    jpeg: await base().jpeg({ quality: 90 }).toBuffer(),
    webp: await base().webp({ quality: 80 }).toBuffer(),
    webpLossless: await base().webp({ lossless: true }).toBuffer(),
    gif: await base().gif().toBuffer(),
  };
}

function marker(bytes: Buffer, ...sequence: number[]): number {
  const at = bytes.indexOf(Buffer.from(sequence));
  if (at < 0) throw new Error(`marker ${sequence.map((b) => b.toString(16)).join(' ')} not found`);
  return at;
}

/**
 * Broken images, each one that a decoder must refuse (not one it can decode into noise: a flipped bit
 * in JPEG entropy-coded data still decodes, by design of the format, so the damage is put in headers,
 * tables and checksummed chunks).
 */
export function brokenImages(images: ImageSet): { name: string; bytes: Buffer; type: string }[] {
  const { png, jpeg, webp, webpLossless } = images;
  const pngFlipped = Buffer.from(png);
  pngFlipped[marker(png, 0x49, 0x44, 0x41, 0x54) + 6]! ^= 0xff; // IDAT data no longer matches its CRC
  const badHuffman = Buffer.from(jpeg);
  const dht = marker(jpeg, 0xff, 0xc4);
  badHuffman.fill(0xff, dht + 5, dht + 21); // code counts summing far past 256: "bogus Huffman table"
  const noComponents = Buffer.from(jpeg);
  noComponents[marker(jpeg, 0xff, 0xc0) + 9] = 0; // SOF0 with zero colour components
  const badStartCode = Buffer.from(webp);
  badStartCode.fill(0, marker(webp, 0x9d, 0x01, 0x2a), marker(webp, 0x9d, 0x01, 0x2a) + 2); // VP8 key frame start code
  return [
    { name: 'PNG cut in half', bytes: png.subarray(0, png.length >> 1), type: 'image/png' },
    { name: 'PNG signature and IHDR only', bytes: png.subarray(0, 33), type: 'image/png' },
    { name: 'PNG with a flipped IDAT byte (CRC mismatch)', bytes: pngFlipped, type: 'image/png' },
    { name: 'JPEG cut in half', bytes: jpeg.subarray(0, jpeg.length >> 1), type: 'image/jpeg' },
    { name: 'JPEG with a corrupt Huffman table', bytes: badHuffman, type: 'image/jpeg' },
    { name: 'JPEG whose frame has no components', bytes: noComponents, type: 'image/jpeg' },
    { name: 'WebP cut in half', bytes: webp.subarray(0, webp.length >> 1), type: 'image/webp' },
    { name: 'WebP with a corrupt VP8 start code', bytes: badStartCode, type: 'image/webp' },
    {
      name: 'lossless WebP cut in half',
      bytes: webpLossless.subarray(0, webpLossless.length >> 1),
      type: 'image/webp',
    },
  ];
}

/** Files that claim (or, for the PNG, really have) more pixels than the 40 MP limit, in a few bytes. */
export function bombs(images: ImageSet): { name: string; bytes: Buffer; type: string; pixels: string }[] {
  const jpeg = Buffer.from(images.jpeg);
  const sof = marker(jpeg, 0xff, 0xc0);
  jpeg.writeUInt16BE(65_000, sof + 5); // height
  jpeg.writeUInt16BE(65_000, sof + 7); // width
  const webp = Buffer.from(images.webp);
  const frame = marker(webp, 0x9d, 0x01, 0x2a);
  webp.writeUInt16LE(16_383, frame + 3); // 14-bit width, scale 0
  webp.writeUInt16LE(16_383, frame + 5); // 14-bit height
  return [
    {
      name: 'PNG header claiming 100000x100000',
      bytes: pngHeaderBomb(100_000, 100_000),
      type: 'image/png',
      pixels: '1e10',
    },
    { name: 'valid 1-bit PNG of 7000x7000', bytes: pngRealBomb(7000), type: 'image/png', pixels: '4.9e7' },
    { name: 'JPEG frame claiming 65000x65000', bytes: jpeg, type: 'image/jpeg', pixels: '4.2e9' },
    { name: 'WebP frame claiming 16383x16383', bytes: webp, type: 'image/webp', pixels: '2.7e8' },
  ];
}

// ---------------------------------------------------------------------------------------------------------
// The corpus

const json = (value: unknown) => JSON.stringify(value);
const JSON_HEADERS = { 'content-type': 'application/json' };
/** 50 MB: five times the image limit, and over every JSON limit. */
export const HUGE_BODY_BYTES = 50 * 1024 * 1024;

/** Builds the whole corpus for `model`. Large bodies are built once and shared between cases. */
export async function buildCorpus(model: ModelFacts): Promise<BadInput[]> {
  const images = await validImages();
  const T = model.tokens_per_image;
  const V = model.codebook_size;
  const C = model.num_classes;
  const row = (fill = 1) => new Array<number>(T).fill(fill % V);
  const withToken = (index: number, value: unknown) => row().map((t, i) => (i === index ? value : t));
  const at = Math.min(3, T - 1);
  const huge = new Uint8Array(HUGE_BODY_BYTES).fill(0x41);
  const cases: BadInput[] = [];
  const worker = (c: Omit<BadInput, 'target'>) => cases.push({ ...c, target: 'worker' });
  const backend = (c: Omit<BadInput, 'target'>) => cases.push({ ...c, target: 'backend' });
  const tokenize = (bytes: Uint8Array, type: string) => ({
    method: 'POST' as const,
    path: `/v1/tokenize?model=${model.id}`,
    headers: { 'content-type': type },
    body: bytes,
  });
  const generation = (body: Record<string, unknown>, headers: Record<string, string> = {}) => ({
    method: 'POST' as const,
    path: '/v1/generations',
    headers: { ...JSON_HEADERS, ...headers },
    body: json({ model: model.id, ...body }),
  });
  const detokenize = (body: Record<string, unknown>) => ({
    method: 'POST' as const,
    path: '/v1/detokenize',
    headers: JSON_HEADERS,
    body: json({ model: model.id, ...body }),
  });
  const encode = (images: string[], extra: Record<string, unknown> = {}) => ({
    method: 'POST' as const,
    path: '/v1/encode',
    headers: JSON_HEADERS,
    body: json({ model: model.id, images, ...extra }),
  });
  const decode = (tokens: unknown, extra: Record<string, unknown> = {}) => ({
    method: 'POST' as const,
    path: '/v1/decode',
    headers: JSON_HEADERS,
    body: json({ model: model.id, tokens, ...extra }),
  });
  const sampling = { seed: 1, cfg_scale: 1, cfg_schedule: 'constant', temperature: 1, top_k: 0, top_p: 1 };
  const generate = (body: Record<string, unknown>) => ({
    method: 'POST' as const,
    path: '/v1/generate',
    headers: JSON_HEADERS,
    body: json({ model: model.id, class_ids: [0], ...sampling, ...body }),
  });

  // Truncated and corrupt images: the Worker forwards them (their magic bytes are right), the backend's
  // decoder refuses them.
  for (const broken of brokenImages(images)) {
    worker({
      name: `tokenize: ${broken.name}`,
      group: 'corrupt image',
      ...tokenize(broken.bytes, broken.type),
      expect: { status: 400, code: 'invalid_image', field: 'image' },
    });
    backend({
      name: `encode: ${broken.name}`,
      group: 'corrupt image',
      ...encode([toBase64(broken.bytes)]),
      expect: { status: 400, code: 'invalid_image', field: 'images.0' },
    });
  }
  for (const bomb of bombs(images)) {
    worker({
      name: `tokenize: ${bomb.name} (${bomb.bytes.length} bytes, ${bomb.pixels} px)`,
      group: 'decompression bomb',
      ...tokenize(bomb.bytes, bomb.type),
      expect: { status: 413, code: 'image_too_large', field: 'image' },
    });
    backend({
      name: `encode: ${bomb.name}`,
      group: 'decompression bomb',
      ...encode([toBase64(bomb.bytes)]),
      expect: { status: 413, code: 'image_too_large', field: 'images.0' },
    });
  }

  // Shapes past maxImageSide or maxImageAspectRatio, refused from the header (a real 65535x1 PNG of a
  // few hundred bytes, and a header claiming 1048576x1) on both sides of the Worker.
  for (const [name, bytes] of [
    ['PNG 65535x1', Buffer.from(encodePng(65_535, 1, new Uint8Array(65_535 * 3)))],
    ['PNG header claiming 1048576x1', pngHeaderBomb(1_048_576, 1)],
    ['PNG 65x1 (aspect ratio 65:1)', Buffer.from(encodePng(65, 1, new Uint8Array(65 * 3)))],
  ] as const) {
    worker({
      name: `tokenize: ${name}`,
      group: 'extreme shape',
      ...tokenize(bytes, 'image/png'),
      expect: { status: 422, code: 'image_dimensions_unsupported', field: 'image' },
    });
    backend({
      name: `encode: ${name}`,
      group: 'extreme shape',
      ...encode([toBase64(bytes)]),
      expect: { status: 422, code: 'image_dimensions_unsupported', field: 'images.0' },
    });
  }

  // Zero bytes and 50 MB.
  worker({
    name: 'tokenize: zero-byte image body',
    group: 'size',
    ...tokenize(new Uint8Array(0), 'image/png'),
    expect: { status: 400, code: 'invalid_image', field: 'image' },
  });
  worker({
    name: 'tokenize: 50 MB image body',
    group: 'size',
    ...tokenize(huge, 'image/png'),
    expect: { status: 413, code: 'image_too_large' },
  });
  worker({
    name: 'generations: 50 MB JSON body',
    group: 'size',
    method: 'POST',
    path: '/v1/generations',
    headers: JSON_HEADERS,
    body: huge,
    expect: { status: 413, code: 'payload_too_large' },
  });
  worker({
    name: 'tokenize: 50 MB JSON body',
    group: 'size',
    method: 'POST',
    path: '/v1/tokenize',
    headers: JSON_HEADERS,
    body: huge,
    expect: { status: 413, code: 'payload_too_large' },
  });
  worker({
    name: 'generations: empty body',
    group: 'size',
    method: 'POST',
    path: '/v1/generations',
    headers: JSON_HEADERS,
    body: '',
    expect: { status: 400, code: 'invalid_json' },
  });
  backend({
    name: 'encode: zero-byte image',
    group: 'size',
    ...encode(['']),
    expect: { status: 400, code: 'invalid_image', field: 'images.0' },
  });
  backend({
    name: 'encode: 50 MB JSON body (one 50 MB base64 string)',
    group: 'size',
    method: 'POST',
    path: '/v1/encode',
    headers: JSON_HEADERS,
    body: `{"model":"${model.id}","images":["${'A'.repeat(HUGE_BODY_BYTES - 64)}"]}`,
    expect: { status: 400, code: 'invalid_parameter', field: 'images.0' },
  });
  backend({
    name: 'encode: 65 images (the batch limit is 64)',
    group: 'size',
    ...encode(new Array(65).fill(toBase64(images.png))),
    expect: { status: 400, code: 'invalid_parameter', field: 'images' },
  });

  // Wrong content types.
  worker({
    name: 'tokenize: PNG bytes sent as text/plain',
    group: 'content type',
    ...tokenize(images.png, 'text/plain'),
    expect: { status: 415, code: 'unsupported_media_type' },
  });
  worker({
    name: 'tokenize: no Content-Type',
    group: 'content type',
    method: 'POST',
    path: '/v1/tokenize',
    body: images.png,
    expect: { status: 415, code: 'unsupported_media_type' },
  });
  worker({
    name: 'generations: JSON sent as text/plain',
    group: 'content type',
    ...generation({ class_id: 0 }, { 'content-type': 'text/plain' }),
    expect: { status: 415, code: 'unsupported_media_type' },
  });
  worker({
    name: 'detokenize: form-encoded body',
    group: 'content type',
    method: 'POST',
    path: '/v1/detokenize',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'tokens=1,2,3',
    expect: { status: 415, code: 'unsupported_media_type' },
  });
  worker({
    name: 'tokenize: multipart without the image field',
    group: 'content type',
    method: 'POST',
    path: '/v1/tokenize',
    headers: { 'content-type': 'multipart/form-data; boundary=XyZ' },
    body: '--XyZ\r\nContent-Disposition: form-data; name="model"\r\n\r\nx\r\n--XyZ--\r\n',
    expect: { status: 400, code: 'missing_parameter', field: 'image' },
  });
  worker({
    name: 'tokenize: multipart with a broken boundary',
    group: 'content type',
    method: 'POST',
    path: '/v1/tokenize',
    headers: { 'content-type': 'multipart/form-data; boundary=XyZ' },
    body: '--nope\r\nContent-Disposition: form-data; name="image"\r\n\r\nx',
    expect: { status: 400, code: 'invalid_parameter', field: 'image' },
  });
  backend({
    name: 'encode: JSON sent as text/plain',
    group: 'content type',
    ...encode([toBase64(images.png)]),
    headers: { 'content-type': 'text/plain' },
    expect: { status: 415, code: 'unsupported_media_type' },
  });
  backend({
    name: 'decode: a GTOK body with a bad magic',
    group: 'content type',
    method: 'POST',
    path: '/v1/decode',
    headers: { 'content-type': 'application/vnd.gigatok.tokens' },
    body: new Uint8Array([0x47, 0x54, 0x4f, 0x58, 1, 0, 0]),
    expect: { status: 400, code: 'invalid_tokens' },
  });
  const gtok = encodeTokens({ model: model.id, codebookSize: V, tokensPerImage: T, tokens: [row()] });
  backend({
    name: 'decode: a GTOK body cut short',
    group: 'content type',
    method: 'POST',
    path: '/v1/decode',
    headers: { 'content-type': 'application/vnd.gigatok.tokens' },
    body: gtok.subarray(0, gtok.length - 3),
    expect: { status: 400, code: 'invalid_tokens' },
  });
  const otherCodebook = encodeTokens({
    model: model.id,
    codebookSize: V * 2,
    tokensPerImage: T,
    tokens: [row()],
  });
  backend({
    name: 'decode: a GTOK body for another codebook size',
    group: 'content type',
    method: 'POST',
    path: '/v1/decode',
    headers: { 'content-type': 'application/vnd.gigatok.tokens' },
    body: otherCodebook,
    expect: { status: 400, code: 'invalid_tokens' },
  });

  // Polyglots. A PNG followed by other bytes is still a complete PNG: decoders stop at IEND, and the API
  // never serves uploads back, so the trailer goes nowhere (checked: same tokens as the clean PNG).
  const html = Buffer.from('<html><script>alert(document.cookie)</script></html>');
  const zip = Buffer.concat([
    Buffer.from([0x50, 0x4b, 0x05, 0x06]), // an empty ZIP: end-of-central-directory record
    Buffer.alloc(18),
  ]);
  worker({
    name: 'tokenize: PNG + appended HTML',
    group: 'polyglot',
    ...tokenize(Buffer.concat([images.png, html]), 'image/png'),
    expect: { status: 200 },
    sameTokensAs: images.png,
  });
  worker({
    name: 'tokenize: PNG + appended ZIP',
    group: 'polyglot',
    ...tokenize(Buffer.concat([images.png, zip]), 'image/png'),
    expect: { status: 200 },
    sameTokensAs: images.png,
  });
  worker({
    name: 'tokenize: GIF labelled image/png',
    group: 'polyglot',
    ...tokenize(images.gif, 'image/png'),
    expect: { status: 415, code: 'unsupported_media_type', field: 'image' },
  });
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><script>alert(1)</script></svg>';
  worker({
    name: 'tokenize: SVG labelled image/png',
    group: 'polyglot',
    ...tokenize(Buffer.from(svg), 'image/png'),
    expect: { status: 415, code: 'unsupported_media_type', field: 'image' },
  });
  worker({
    name: 'tokenize: HTML labelled image/jpeg',
    group: 'polyglot',
    ...tokenize(html, 'image/jpeg'),
    expect: { status: 415, code: 'unsupported_media_type', field: 'image' },
  });
  worker({
    name: 'tokenize: ZIP with a PNG signature glued in front of nothing',
    group: 'polyglot',
    ...tokenize(Buffer.concat([PNG_SIGNATURE, zip]), 'image/png'),
    expect: { status: 400, code: 'invalid_image', field: 'image' },
  });
  backend({
    name: 'encode: GIF (the backend decodes PNG, JPEG and WebP only)',
    group: 'polyglot',
    ...encode([toBase64(images.gif)]),
    expect: { status: 415, code: 'unsupported_media_type', field: 'images.0' },
  });
  backend({
    name: 'encode: SVG',
    group: 'polyglot',
    ...encode([toBase64(Buffer.from(svg))]),
    expect: { status: 415, code: 'unsupported_media_type', field: 'images.0' },
  });
  worker({
    name: 'tokenize: JSON image that is not base64',
    group: 'polyglot',
    method: 'POST',
    path: '/v1/tokenize',
    headers: JSON_HEADERS,
    body: json({ image: 'data:image/png;base64,iVBORw0KGgo=' }),
    expect: { status: 400, code: 'invalid_parameter', field: 'image' },
  });
  backend({
    name: 'encode: image that is not base64',
    group: 'polyglot',
    ...encode(['%%%not base64%%%']),
    expect: { status: 400, code: 'invalid_parameter', field: 'images.0' },
  });

  // Token arrays: wrong length, ids past the codebook, wrong number types.
  const tokenCases: [string, unknown, ErrorCode, string][] = [
    [`${T - 1} tokens (the model takes ${T})`, row().slice(1), 'invalid_tokens', 'tokens'],
    [`${T + 1} tokens`, [...row(), 1], 'invalid_tokens', 'tokens'],
    [`token id ${V} (= codebook size)`, withToken(at, V), 'invalid_tokens', `tokens.${at}`],
    ['token id 2^24 (past any codebook)', withToken(at, 2 ** 24), 'invalid_parameter', `tokens.${at}`],
    ['negative token id', withToken(at, -1), 'invalid_parameter', `tokens.${at}`],
    ['fractional token id', withToken(at, 1.5), 'invalid_parameter', `tokens.${at}`],
    ['"NaN" string token', withToken(at, 'NaN'), 'invalid_parameter', `tokens.${at}`],
    ['null token', withToken(at, null), 'invalid_parameter', `tokens.${at}`],
    ['empty token array', [], 'invalid_parameter', 'tokens'],
    // zod reports the first branch of the row-or-rows union: tokens.0 is not an integer.
    ['two rows', [row(), row()], 'invalid_parameter', 'tokens.0'],
  ];
  for (const [what, tokens, code, field] of tokenCases) {
    worker({
      name: `detokenize: ${what}`,
      group: 'tokens',
      ...detokenize({ tokens }),
      expect: { status: 400, code, field },
    });
  }
  worker({
    name: 'detokenize: token id 1e309 (Infinity after JSON parsing)',
    group: 'tokens',
    method: 'POST',
    path: '/v1/detokenize',
    headers: JSON_HEADERS,
    body: `{"tokens":[${row().slice(1).join(',')},1e309]}`,
    expect: { status: 400, code: 'invalid_parameter', field: `tokens.${T - 1}` },
  });
  worker({
    name: 'detokenize: both tokens and token_id',
    group: 'tokens',
    ...detokenize({ tokens: row(), token_id: `tok_${'a'.repeat(32)}` }),
    expect: { status: 400, code: 'invalid_parameter', field: 'token_id' },
  });
  worker({
    name: 'detokenize: neither tokens nor token_id',
    group: 'tokens',
    ...detokenize({}),
    expect: { status: 400, code: 'invalid_parameter', field: 'tokens' },
  });
  worker({
    name: 'detokenize: malformed token_id',
    group: 'tokens',
    ...detokenize({ token_id: 'tok_../../etc/passwd' }),
    expect: { status: 400, code: 'invalid_parameter', field: 'token_id' },
  });
  worker({
    name: 'detokenize: unknown token_id',
    group: 'tokens',
    ...detokenize({ token_id: `tok_${'a'.repeat(32)}` }),
    expect: { status: 404, code: 'not_found', field: 'token_id' },
  });
  worker({
    name: 'detokenize: format gif',
    group: 'tokens',
    ...detokenize({ tokens: row(), format: 'gif' }),
    expect: { status: 400, code: 'invalid_parameter', field: 'format' },
  });
  backend({
    name: `decode: ${T - 1} tokens`,
    group: 'tokens',
    ...decode([row().slice(1)]),
    expect: { status: 400, code: 'invalid_tokens', field: 'tokens.0' },
  });
  backend({
    name: `decode: token id ${V}`,
    group: 'tokens',
    ...decode([withToken(at, V)]),
    expect: { status: 400, code: 'invalid_tokens', field: `tokens.0.${at}` },
  });
  backend({
    name: 'decode: negative token id',
    group: 'tokens',
    ...decode([withToken(at, -1)]),
    expect: { status: 400, code: 'invalid_parameter', field: `tokens.0.${at}` },
  });
  backend({
    name: 'decode: 65 rows (the batch limit is 64)',
    group: 'tokens',
    ...decode(new Array(65).fill(row())),
    expect: { status: 400, code: 'invalid_parameter', field: 'tokens' },
  });

  // Numbers out of range, of the wrong type, NaN and Infinity; huge counts.
  const generationCases: [string, Record<string, unknown>, string][] = [
    ['top_k -1', { top_k: -1 }, 'top_k'],
    [`top_k ${V + 1} (past the codebook)`, { top_k: V + 1 }, 'top_k'],
    ['temperature 0', { temperature: 0 }, 'temperature'],
    ['temperature 5.5', { temperature: 5.5 }, 'temperature'],
    ['cfg_scale "NaN"', { cfg_scale: 'NaN' }, 'cfg_scale'],
    ['cfg_scale -0.5', { cfg_scale: -0.5 }, 'cfg_scale'],
    ['top_p 0', { top_p: 0 }, 'top_p'],
    ['top_p 1.5', { top_p: 1.5 }, 'top_p'],
    ['seed -1', { seed: -1 }, 'seed'],
    ['seed 2^32', { seed: 2 ** 32 }, 'seed'],
    ['seed 1.5', { seed: 1.5 }, 'seed'],
    ['seed "42"', { seed: '42' }, 'seed'],
    ['count 0', { count: 0 }, 'count'],
    ['count 17', { count: 17 }, 'count'],
    ['count 1e9', { count: 1e9 }, 'count'],
    [`class_id ${C} (= number of classes)`, { class_id: C }, 'class_id'],
    ['class_id -1', { class_id: -1 }, 'class_id'],
    ['class_id 2.5', { class_id: 2.5 }, 'class_id'],
    ['class_id array of 17', { class_id: new Array(17).fill(0) }, 'class_id'],
    [`class_id array with ${C} at index 1`, { class_id: [0, C] }, 'class_id.1'],
    ['class_id "" (an empty label)', { class_id: '' }, 'class_id'],
    ['class_id "no such class" (a label the model lacks)', { class_id: 'no such class' }, 'class_id'],
    ['class_id array with an unknown label at index 1', { class_id: [0, 'no such class'] }, 'class_id.1'],
    ['cfg_schedule "cosine"', { cfg_schedule: 'cosine' }, 'cfg_schedule'],
    ['output.format "bmp"', { output: { format: 'bmp' } }, 'output.format'],
    ['an unknown field', { class_id: 0, steps: 1000 }, ''],
    ['model with path characters', { model: '../../etc' }, 'model'],
  ];
  for (const [what, body, field] of generationCases) {
    worker({
      name: `generations: ${what}`,
      group: 'numbers',
      ...generation(body),
      expect: { status: 400, code: 'invalid_parameter', ...(field ? { field } : {}) },
    });
  }
  worker({
    name: 'generations: seed 1e309 (Infinity after JSON parsing)',
    group: 'numbers',
    method: 'POST',
    path: '/v1/generations',
    headers: JSON_HEADERS,
    body: `{"model":"${model.id}","seed":1e309}`,
    expect: { status: 400, code: 'invalid_parameter', field: 'seed' },
  });
  worker({
    name: 'generations: __proto__ member (prototype pollution attempt)',
    group: 'numbers',
    method: 'POST',
    path: '/v1/generations',
    headers: JSON_HEADERS,
    body: `{"model":"${model.id}","__proto__":{"count":16}}`,
    expect: { status: 400, code: 'invalid_parameter' },
  });
  const backendCases: [string, Record<string, unknown>, string][] = [
    [`class_ids [${C}]`, { class_ids: [C] }, 'class_ids.0'],
    ['65 class_ids (the batch limit is 64)', { class_ids: new Array(65).fill(0) }, 'class_ids'],
    [`top_k ${V + 1}`, { top_k: V + 1 }, 'top_k'],
    ['temperature 0', { temperature: 0 }, 'temperature'],
    ['cfg_scale "NaN"', { cfg_scale: 'NaN' }, 'cfg_scale'],
    ['seed -1', { seed: -1 }, 'seed'],
    ['request_id with a slash', { request_id: 'a/b' }, 'request_id'],
    ['no seed', { seed: undefined }, 'seed'],
  ];
  for (const [what, body, field] of backendCases) {
    backend({
      name: `generate: ${what}`,
      group: 'numbers',
      ...generate(body),
      expect: { status: 400, code: 'invalid_parameter', field },
    });
  }

  // Unknown models.
  worker({
    name: 'generations: unknown model',
    group: 'model',
    ...generation({ model: 'no-such-model' }),
    expect: { status: 400, code: 'unknown_model', field: 'model' },
  });
  worker({
    name: 'tokenize: unknown model',
    group: 'model',
    ...tokenize(images.png, 'image/png'),
    path: '/v1/tokenize?model=no-such-model',
    expect: { status: 400, code: 'unknown_model', field: 'model' },
  });
  worker({
    name: 'detokenize: unknown model',
    group: 'model',
    ...detokenize({ tokens: row(), model: 'no-such-model' }),
    expect: { status: 400, code: 'unknown_model', field: 'model' },
  });
  backend({
    name: 'encode: unknown model',
    group: 'model',
    ...encode([toBase64(images.png)], { model: 'no-such-model' }),
    expect: { status: 400, code: 'unknown_model', field: 'model' },
  });
  backend({
    name: 'generate: unknown model',
    group: 'model',
    ...generate({ model: 'no-such-model' }),
    expect: { status: 400, code: 'unknown_model', field: 'model' },
  });

  // Malformed JSON.
  const malformed: [string, string | Uint8Array][] = [
    ['truncated JSON', '{"class_id": 1'],
    ['trailing comma', '{"class_id": 1,}'],
    ['single quotes', "{'class_id': 1}"],
    ['invalid UTF-8', new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
  ];
  for (const [what, body] of malformed) {
    worker({
      name: `generations: ${what}`,
      group: 'malformed JSON',
      method: 'POST',
      path: '/v1/generations',
      headers: JSON_HEADERS,
      body,
      expect: { status: 400, code: 'invalid_json' },
    });
    backend({
      name: `generate: ${what}`,
      group: 'malformed JSON',
      method: 'POST',
      path: '/v1/generate',
      headers: JSON_HEADERS,
      body,
      expect: { status: 400, code: 'invalid_json' },
    });
  }
  worker({
    name: 'generations: a JSON array instead of an object',
    group: 'malformed JSON',
    method: 'POST',
    path: '/v1/generations',
    headers: JSON_HEADERS,
    body: '[1,2,3]',
    expect: { status: 400, code: 'invalid_parameter' },
  });
  worker({
    name: 'detokenize: JSON null',
    group: 'malformed JSON',
    method: 'POST',
    path: '/v1/detokenize',
    headers: JSON_HEADERS,
    body: 'null',
    expect: { status: 400, code: 'invalid_parameter' },
  });

  // Query strings, paths and headers.
  const listCases: [string, string][] = [
    ['limit=0', 'limit'],
    ['limit=1000', 'limit'],
    ['limit=abc', 'limit'],
    ['cursor=not-a-cursor', 'cursor'],
    [`cursor=${'A'.repeat(600)}`, 'cursor'],
  ];
  for (const [query, field] of listCases) {
    worker({
      name: `list generations: ?${query.slice(0, 40)}`,
      group: 'query',
      method: 'GET',
      path: `/v1/generations?${query}`,
      expect: { status: 400, code: 'invalid_parameter', field },
    });
  }
  worker({
    name: 'tokens: malformed id',
    group: 'query',
    method: 'GET',
    path: '/v1/tokens/tok_%2e%2e%2fsecret',
    expect: { status: 404, code: 'not_found' },
  });
  worker({
    name: 'generations: malformed id',
    group: 'query',
    method: 'GET',
    path: '/v1/generations/job_x',
    expect: { status: 404, code: 'not_found' },
  });
  worker({
    name: 'DELETE on tokenize',
    group: 'query',
    method: 'DELETE',
    path: '/v1/tokenize',
    expect: { status: 405, code: 'method_not_allowed' },
  });
  backend({
    name: 'PUT on encode',
    group: 'query',
    method: 'PUT',
    path: '/v1/encode',
    expect: { status: 405, code: 'method_not_allowed' },
  });
  backend({
    name: 'cancel of an unknown request_id',
    group: 'query',
    method: 'POST',
    path: '/v1/generate/no-such-request/cancel',
    expect: { status: 404, code: 'not_found', field: 'request_id' },
  });
  worker({
    name: 'generations: Idempotency-Key of 300 characters',
    group: 'headers',
    ...generation({ class_id: 0 }, { 'idempotency-key': 'k'.repeat(300) }),
    expect: { status: 400, code: 'invalid_parameter', field: 'Idempotency-Key' },
  });
  worker({
    name: 'detokenize: Accept that excludes the image type',
    group: 'headers',
    ...detokenize({ tokens: row() }),
    headers: { ...JSON_HEADERS, accept: 'application/xml' },
    expect: { status: 406, code: 'not_acceptable' },
  });
  // Headers past the HTTP server's limit (workerd, like Cloudflare's edge: 128 KiB; Node: 16 KiB) are
  // refused by the server itself with 431 before the application sees the request, so there is no
  // problem+json to expect; a server that closes while the client is still sending the headers makes the
  // client see a reset instead of the 431, which is the same refusal.
  worker({
    name: 'models: a 256 KiB header',
    group: 'headers',
    method: 'GET',
    path: '/v1/models',
    headers: { 'x-padding': 'p'.repeat(256 * 1024) },
    expect: { status: 431, problemJson: false, resetAllowed: true },
  });
  backend({
    name: 'models: a 64 KiB header',
    group: 'headers',
    method: 'GET',
    path: '/v1/models',
    headers: { 'x-padding': 'p'.repeat(64 * 1024) },
    expect: { status: 431, problemJson: false, resetAllowed: true },
  });

  // An Idempotency-Key reused with a different body.
  const key = `corpus-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  worker({
    name: 'generations: Idempotency-Key reused with another body',
    group: 'idempotency',
    ...generation({ class_id: 1 % C, seed: 2 }, { 'idempotency-key': key }),
    prelude: generation({ class_id: 0, seed: 1 }, { 'idempotency-key': key }),
    expect: { status: 422, code: 'idempotency_key_reused' },
  });

  return cases;
}
