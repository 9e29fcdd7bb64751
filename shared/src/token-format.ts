// GTOK: the binary container for token sets (media type application/vnd.gigatok.tokens, extension .gtok).
// Specified in docs/token-format.md: little-endian header, tokens bit-packed LSB-first, CRC-32C trailer.
import { crc32c } from './crc32c.ts';

export const TOKENS_MEDIA_TYPE = 'application/vnd.gigatok.tokens';
export const TOKENS_FILE_EXTENSION = '.gtok';
/** The version this module writes. Every version ever written keeps reading (docs/token-format.md). */
export const TOKEN_FORMAT_VERSION = 1;
export const MIN_CODEBOOK_SIZE = 2;
/** 2^24: tokens stay below 2^24, so a packed token never needs more than 24 bits. */
export const MAX_CODEBOOK_SIZE = 2 ** 24;
const MAX_U32 = 0xffffffff;
const MAGIC = [0x47, 0x54, 0x4f, 0x4b]; // "GTOK"
/** Bytes before the model id: magic 4, version 1, flags 1, model id length 1. */
const PREFIX_BYTES = 7;
/** Bytes after the model id: codebook size 4, tokens per image 4, image count 4, bits per token 1. */
const FIELDS_BYTES = 13;
const CRC_BYTES = 4;

export type TokenFormatErrorReason =
  | 'bad_magic'
  | 'unsupported_version'
  | 'bad_flags'
  | 'truncated'
  | 'trailing_bytes'
  | 'checksum_mismatch'
  | 'token_out_of_range'
  | 'bad_header'
  | 'bad_padding';

/** Any blob or argument the format rejects; `reason` is stable for programs, the message is for people. */
export class TokenFormatError extends Error {
  override readonly name = 'TokenFormatError';
  readonly reason: TokenFormatErrorReason;

  constructor(reason: TokenFormatErrorReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A decoded token set: `tokens` is flat and row-major, shape [count, tokensPerImage]. */
export interface TokenSet {
  model: string;
  codebookSize: number;
  tokensPerImage: number;
  count: number;
  tokens: Uint32Array;
}

export interface EncodeTokensInput {
  model: string;
  codebookSize: number;
  tokensPerImage: number;
  /** Flat row-major [count, tokensPerImage], or one row per image. */
  tokens: Uint32Array | readonly (readonly number[])[];
}

/** ceil(log2(codebookSize)), at least 1: the width of one packed token. */
export function bitsPerToken(codebookSize: number): number {
  checkCodebookSize(codebookSize);
  return 32 - Math.clz32(codebookSize - 1);
}

/** Exact length in bytes of the blob `encodeTokens` writes for these header values. */
export function encodedTokensLength(
  model: string,
  codebookSize: number,
  tokensPerImage: number,
  count: number,
) {
  const modelBytes = new TextEncoder().encode(model).length;
  return (
    headerLength(modelBytes) + payloadLength(count * tokensPerImage, bitsPerToken(codebookSize)) + CRC_BYTES
  );
}

/** Splits a flat token array into rows of `tokensPerImage` (for JSON bodies). */
export function tokenRows(tokens: Uint32Array, tokensPerImage: number): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < tokens.length; i += tokensPerImage)
    rows.push(Array.from(tokens.subarray(i, i + tokensPerImage)));
  return rows;
}

export function encodeTokens(input: EncodeTokensInput): Uint8Array {
  const { model, codebookSize, tokensPerImage } = input;
  if (typeof model !== 'string') throw new TokenFormatError('bad_header', `'model' must be a string`);
  const modelBytes = new TextEncoder().encode(model);
  if (modelBytes.length < 1 || modelBytes.length > 255) {
    throw new TokenFormatError(
      'bad_header',
      `'model' must be 1 to 255 UTF-8 bytes, got ${modelBytes.length}`,
    );
  }
  const bits = bitsPerToken(codebookSize);
  checkTokensPerImage(tokensPerImage);
  const flat = flatten(input.tokens, tokensPerImage);
  const count = flat.length / tokensPerImage;
  if (count < 1 || count > MAX_U32) {
    throw new TokenFormatError('bad_header', `image count must be in [1, ${MAX_U32}], got ${count}`);
  }
  for (let i = 0; i < flat.length; i++) {
    const t = flat[i]!;
    if (t >= codebookSize) throw outOfRange(i, t, tokensPerImage, codebookSize);
  }

  const header = headerLength(modelBytes.length);
  const payload = payloadLength(flat.length, bits);
  const out = new Uint8Array(header + payload + CRC_BYTES);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = TOKEN_FORMAT_VERSION;
  out[5] = 0; // flags: reserved
  out[6] = modelBytes.length;
  out.set(modelBytes, PREFIX_BYTES);
  let at = PREFIX_BYTES + modelBytes.length;
  view.setUint32(at, codebookSize, true);
  view.setUint32(at + 4, tokensPerImage, true);
  view.setUint32(at + 8, count, true);
  out[at + 12] = bits;
  at += FIELDS_BYTES;
  pack(flat, bits, out.subarray(at, at + payload));
  view.setUint32(at + payload, crc32c(out.subarray(0, at + payload)), true);
  return out;
}

/** Parses and fully validates a blob; throws TokenFormatError with the first problem found. */
export function decodeTokens(bytes: Uint8Array): TokenSet {
  for (let i = 0; i < MAGIC.length; i++) {
    if (i >= bytes.length) throw truncated(bytes.length, 'the magic');
    if (bytes[i] !== MAGIC[i])
      throw new TokenFormatError('bad_magic', 'not a GTOK blob: the first 4 bytes must be "GTOK"');
  }
  if (bytes.length < 5) throw truncated(bytes.length, 'the version byte');
  const version = bytes[4]!;
  // Dispatch on the version: a new version adds a decoder here and the old ones stay (docs/token-format.md).
  switch (version) {
    case 1:
      return decodeV1(bytes);
    default:
      throw new TokenFormatError(
        'unsupported_version',
        `unsupported GTOK version ${version}; this reader knows versions [1]`,
      );
  }
}

function decodeV1(bytes: Uint8Array): TokenSet {
  if (bytes.length < 6) throw truncated(bytes.length, 'the flags byte');
  if (bytes[5] !== 0)
    throw new TokenFormatError('bad_flags', `flags must be 0 in version 1, got ${bytes[5]}`);
  if (bytes.length < PREFIX_BYTES) throw truncated(bytes.length, 'the model id length');
  const modelLength = bytes[6]!;
  if (modelLength === 0)
    throw new TokenFormatError('bad_header', 'model id length must be at least 1, got 0');
  const header = headerLength(modelLength);
  if (bytes.length < header) throw truncated(bytes.length, 'the header');

  let model: string;
  try {
    model = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(
      bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + modelLength),
    );
  } catch {
    throw new TokenFormatError('bad_header', 'model id is not valid UTF-8');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = PREFIX_BYTES + modelLength;
  const codebookSize = view.getUint32(at, true);
  const tokensPerImage = view.getUint32(at + 4, true);
  const count = view.getUint32(at + 8, true);
  const bits = bytes[at + 12]!;
  if (codebookSize < MIN_CODEBOOK_SIZE || codebookSize > MAX_CODEBOOK_SIZE) {
    throw new TokenFormatError(
      'bad_header',
      `codebook size must be in [${MIN_CODEBOOK_SIZE}, ${MAX_CODEBOOK_SIZE}], got ${codebookSize}`,
    );
  }
  if (tokensPerImage < 1)
    throw new TokenFormatError('bad_header', 'tokens per image must be at least 1, got 0');
  if (count < 1) throw new TokenFormatError('bad_header', 'image count must be at least 1, got 0');
  const expectedBits = bitsPerToken(codebookSize);
  if (bits !== expectedBits) {
    throw new TokenFormatError(
      'bad_header',
      `bits per token must be ${expectedBits} for codebook size ${codebookSize}, got ${bits}`,
    );
  }

  // count * tokensPerImage may exceed 2^53 for a hostile header; then the length test below fails first.
  const total = count * tokensPerImage;
  const payload = payloadLength(total, bits);
  const expected = header + payload + CRC_BYTES;
  if (bytes.length < expected) throw truncated(bytes.length, `the ${expected} bytes the header announces`);
  if (bytes.length > expected) {
    throw new TokenFormatError(
      'trailing_bytes',
      `blob has ${bytes.length - expected} bytes after the checksum (expected ${expected} bytes in all)`,
    );
  }
  const stored = view.getUint32(header + payload, true);
  const actual = crc32c(bytes.subarray(0, header + payload));
  if (stored !== actual) {
    throw new TokenFormatError(
      'checksum_mismatch',
      `CRC-32C mismatch: stored ${hex32(stored)}, computed ${hex32(actual)}`,
    );
  }
  const tokens = unpack(bytes.subarray(header, header + payload), total, bits);
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i]! >= codebookSize) throw outOfRange(i, tokens[i]!, tokensPerImage, codebookSize);
  }
  return { model, codebookSize, tokensPerImage, count, tokens };
}

function headerLength(modelBytes: number): number {
  return PREFIX_BYTES + modelBytes + FIELDS_BYTES;
}

function payloadLength(tokens: number, bits: number): number {
  return Math.ceil((tokens * bits) / 8);
}

/** LSB-first: token k's bit j is bit (k*bits + j) of the stream; stream bit i is bit (i mod 8) of byte i>>3. */
function pack(tokens: Uint32Array, bits: number, out: Uint8Array): void {
  let acc = 0; // holds fewer than 8 pending bits between tokens, so acc | (t << pending) stays below 2^31
  let pending = 0;
  let o = 0;
  for (let k = 0; k < tokens.length; k++) {
    acc |= tokens[k]! << pending;
    pending += bits;
    while (pending >= 8) {
      out[o++] = acc & 0xff;
      acc >>>= 8;
      pending -= 8;
    }
  }
  if (pending > 0) out[o] = acc & 0xff; // the rest of the last byte stays zero: the padding
}

function unpack(payload: Uint8Array, count: number, bits: number): Uint32Array {
  const tokens = new Uint32Array(count);
  const mask = 2 ** bits - 1;
  let acc = 0;
  let pending = 0;
  let i = 0;
  for (let k = 0; k < count; k++) {
    while (pending < bits) {
      acc |= payload[i++]! << pending;
      pending += 8;
    }
    tokens[k] = acc & mask;
    acc >>>= bits;
    pending -= bits;
  }
  // One canonical encoding per token set: the padding bits of the last byte must be zero.
  if (acc !== 0) throw new TokenFormatError('bad_padding', 'padding bits after the last token must be zero');
  return tokens;
}

function flatten(tokens: EncodeTokensInput['tokens'], tokensPerImage: number): Uint32Array {
  if (tokens instanceof Uint32Array) {
    if (tokens.length % tokensPerImage !== 0) {
      throw new TokenFormatError(
        'bad_header',
        `token count ${tokens.length} is not a multiple of tokens per image ${tokensPerImage}`,
      );
    }
    return tokens;
  }
  const flat = new Uint32Array(tokens.length * tokensPerImage);
  tokens.forEach((row, r) => {
    if (row.length !== tokensPerImage) {
      throw new TokenFormatError(
        'bad_header',
        `row ${r} has ${row.length} tokens, expected tokens per image ${tokensPerImage}`,
      );
    }
    for (let c = 0; c < row.length; c++) {
      const t = row[c]!;
      if (!Number.isInteger(t) || t < 0 || t > MAX_U32) {
        throw new TokenFormatError(
          'token_out_of_range',
          `token [${r}][${c}] must be a non-negative integer, got ${t}`,
        );
      }
      flat[r * tokensPerImage + c] = t;
    }
  });
  return flat;
}

function checkCodebookSize(codebookSize: number): void {
  if (
    !Number.isInteger(codebookSize) ||
    codebookSize < MIN_CODEBOOK_SIZE ||
    codebookSize > MAX_CODEBOOK_SIZE
  ) {
    throw new TokenFormatError(
      'bad_header',
      `'codebookSize' must be an integer in [${MIN_CODEBOOK_SIZE}, ${MAX_CODEBOOK_SIZE}], got ${codebookSize}`,
    );
  }
}

function checkTokensPerImage(tokensPerImage: number): void {
  if (!Number.isInteger(tokensPerImage) || tokensPerImage < 1 || tokensPerImage > MAX_U32) {
    throw new TokenFormatError(
      'bad_header',
      `'tokensPerImage' must be an integer in [1, ${MAX_U32}], got ${tokensPerImage}`,
    );
  }
}

function outOfRange(
  index: number,
  token: number,
  tokensPerImage: number,
  codebookSize: number,
): TokenFormatError {
  const row = Math.floor(index / tokensPerImage);
  const col = index % tokensPerImage;
  return new TokenFormatError(
    'token_out_of_range',
    `token [${row}][${col}] must be in [0, ${codebookSize - 1}], got ${token}`,
  );
}

function truncated(length: number, what: string): TokenFormatError {
  return new TokenFormatError('truncated', `blob is truncated: ${length} bytes end before ${what}`);
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
