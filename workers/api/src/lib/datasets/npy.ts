// NumPy .npy files (format version 1.0, numpy/lib/format.py): the magic, a little-endian uint16 header
// length, a Python-literal header padded with spaces to a multiple of 64 bytes, then the raw data. Only
// what the official code layout needs: C-order little-endian int64 arrays.

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]; // "\x93NUMPY" v1.0

/** An .npy file of `values` as '<i8' with `shape` (the product of shape must be values.length). */
export function int64Npy(shape: readonly number[], values: ArrayLike<number>): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== values.length)
    throw new RangeError(`shape ${shape} holds ${count} values, got ${values.length}`);
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<i8', 'fortran_order': False, 'shape': (${dims}), }`;
  const unpadded = MAGIC.length + 2 + header.length + 1;
  header += `${' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  const out = new Uint8Array(MAGIC.length + 2 + header.length + count * 8);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint16(MAGIC.length, header.length, true);
  for (let i = 0; i < header.length; i++) out[MAGIC.length + 2 + i] = header.charCodeAt(i);
  const data = MAGIC.length + 2 + header.length;
  for (let i = 0; i < count; i++) view.setBigInt64(data + i * 8, BigInt(values[i]!), true);
  return out;
}
