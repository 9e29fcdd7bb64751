// Argument handling shared by the CLI commands: node:util parseArgs with the global options mixed
// in, usage errors (exit code 2) and numeric flags checked with the range in the message.

import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A mistake in how the command was called: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Accepted by every command, before or after the command name. */
export const GLOBAL_OPTIONS = {
  'api-url': { type: 'string' },
  'api-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

export const GLOBAL_HELP = `Global options:
  --api-url URL   API base URL (env GIGATOK_API_URL, default http://127.0.0.1:8787)
  --api-key KEY   API key (env GIGATOK_API_KEY)
  -h, --help      show help`;

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs in strict mode, turning its TypeError into a UsageError. */
export function parseCommandArgs<const T extends Options>(args: string[], options: T) {
  try {
    return parseArgs({
      args,
      options: { ...GLOBAL_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** An integer flag within [min, max]; undefined when the flag is absent. */
export function intFlag(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`'--${name}' must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A number flag within [min, max]; undefined when the flag is absent. */
export function numberFlag(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`'--${name}' must be a number in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A flag restricted to a fixed set of words. */
export function choiceFlag<const C extends string>(
  value: string | undefined,
  name: string,
  choices: readonly C[],
): C | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`'--${name}' must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as C;
}

/** Exactly `count` positionals (the names are for the message). */
export function expectPositionals(positionals: string[], names: string[]): string[] {
  if (positionals.length < names.length) {
    throw new UsageError(
      `missing ${names
        .slice(positionals.length)
        .map((n) => `<${n}>`)
        .join(' ')}`,
    );
  }
  if (positionals.length > names.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[names.length])}`);
  }
  return positionals;
}
