// RFC 4648 section 6 base32 in lowercase without padding: the alphabet of every id (tok_, job_, key_, ...).
// Lowercase so ids are safe in URLs, R2 keys and case-insensitive contexts alike.

export const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** Lowercase, unpadded base32 of `bytes`: 20 bytes (160 bits) give exactly 32 characters. */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = ((acc << 8) | byte) & 0xfff; // at most 12 live bits: 4 left over plus the new byte
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(acc >>> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(acc << (5 - bits)) & 31];
  return out;
}

/** Decodes lowercase or uppercase unpadded base32; throws a TypeError on other characters or stray bits. */
export function base32Decode(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const ch of text.toLowerCase()) {
    const v = BASE32_ALPHABET.indexOf(ch);
    if (v < 0) throw new TypeError(`invalid base32 character ${JSON.stringify(ch)}`);
    acc = ((acc << 5) | v) & 0xfff; // at most 12 live bits: 7 left over plus 5 new
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  // RFC 4648 section 3.5: leftover bits must be zero for a canonical encoding.
  if (bits >= 5 || (acc & ((1 << bits) - 1)) !== 0)
    throw new TypeError('invalid base32: non-canonical trailing bits');
  return out;
}
