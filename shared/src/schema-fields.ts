// Zod field builders whose messages name the field and the allowed range, ORT style:
// "'top_k' must be an integer in [0, 1024], got 20000". Used by every request schema.
import { z } from 'zod';
import { describeValue } from './errors.ts';

type Issue = { readonly input?: unknown };

/** An error function for zod: "'name' is required" when absent, else "'name' must be <expected>, got <value>". */
export function fieldError(name: string, expected: string) {
  return (issue: Issue): string =>
    issue.input === undefined
      ? `'${name}' is required`
      : `'${name}' must be ${expected}, got ${describeValue(issue.input)}`;
}

/** An integer in [min, max]. Strings such as "5" or "NaN" are rejected, never coerced. */
export function intField(name: string, min: number, max: number) {
  const error = fieldError(name, `an integer in [${min}, ${max}]`);
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** A finite number in [min, max], or (min, max] when `minExclusive`. */
export function numberField(name: string, min: number, max: number, opts: { minExclusive?: boolean } = {}) {
  const open = opts.minExclusive ? '(' : '[';
  const error = fieldError(name, `a number in ${open}${min}, ${max}]`);
  const base = z.number({ error });
  return (opts.minExclusive ? base.gt(min, { error }) : base.gte(min, { error })).lte(max, { error });
}

export function enumField<const T extends readonly [string, ...string[]]>(name: string, values: T) {
  return z.enum(values, {
    error: fieldError(name, `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`),
  });
}

export function boolField(name: string) {
  return z.boolean({ error: fieldError(name, 'true or false') });
}

/** A string matching `pattern`; `expected` says what it should look like. */
export function patternField(name: string, pattern: RegExp, expected: string, maxLength = 256) {
  const error = fieldError(name, expected);
  // abort: an over-long value reports one issue, not also a pattern mismatch.
  return z.string({ error }).max(maxLength, { error, abort: true }).regex(pattern, { error });
}

/** Standard padded base64 of at most `maxChars` characters (zod's base64 check: RFC 4648 alphabet). */
export function base64Field(name: string, maxChars: number, what: string) {
  return z
    .string({ error: fieldError(name, `${what} as a base64 string`) })
    .max(maxChars, { error: () => `'${name}' must be at most ${maxChars} base64 characters` })
    .base64({ error: () => `'${name}' must be standard base64 (A-Z, a-z, 0-9, +, /, with = padding)` });
}
