// CRC-32C (Castagnoli), the checksum that closes a GTOK token blob (docs/token-format.md).
// Parameters as in RFC 3720 appendix B.4 (iSCSI): reflected polynomial 0x82F63B78, init and final XOR 0xFFFFFFFF.

const REFLECTED_POLY = 0x82f63b78;

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ REFLECTED_POLY : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32C of `bytes` as an unsigned 32-bit number. Pass a previous result as `previous` to continue a
 * checksum over data that arrives in pieces: crc32c(b, crc32c(a)) === crc32c(a ++ b).
 */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
