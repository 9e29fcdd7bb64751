// Token rows as the graphs that read them take them: [B, T] int64, one row per item.
import { type HostTensor, int64 } from '../runtime/tensors.ts';

/** `rows` (each `tokens` long) as one [B, T] int64 tensor. */
export function tokenRows(rows: readonly Int32Array[], tokens: number): HostTensor {
  const input = new BigInt64Array(rows.length * tokens);
  for (const [i, row] of rows.entries()) {
    for (let t = 0; t < tokens; t++) input[i * tokens + t] = BigInt(row[t]!);
  }
  return int64(input, [rows.length, tokens]);
}

/** Splits a [B, D] float32 output into B rows of D values (copies, so the output buffer can go). */
export function splitRows(values: Float32Array, rows: number, label: string): Float32Array[] {
  if (rows === 0 || values.length === 0 || values.length % rows !== 0) {
    throw new Error(`${label} returned ${values.length} values for ${rows} rows`);
  }
  const dim = values.length / rows;
  return Array.from({ length: rows }, (_, i) => values.slice(i * dim, (i + 1) * dim));
}
