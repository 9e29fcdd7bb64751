// What a CLI command runs with: its output streams, the environment, an abort signal (Ctrl-C) and
// the API client built from --api-url/--api-key or GIGATOK_API_URL/GIGATOK_API_KEY.

import { GigaTokClient } from '../client.ts';
import { UsageError } from './args.ts';

export const DEFAULT_API_URL = 'http://127.0.0.1:8787';

export interface OutputStream {
  write(text: string | Uint8Array): unknown;
  isTTY?: boolean | undefined;
}

export interface CliContext {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Readonly<Record<string, string | undefined>>;
  /** Aborts on Ctrl-C. */
  signal: AbortSignal;
}

export interface Command {
  /** As typed: `tokenize`, `jobs`, `keys`. */
  name: string;
  summary: string;
  usage: string;
  run(args: string[], ctx: CliContext): Promise<number>;
}

export function apiUrl(values: { 'api-url'?: string | undefined }, ctx: CliContext): string {
  const url = values['api-url'] ?? ctx.env.GIGATOK_API_URL ?? DEFAULT_API_URL;
  if (!URL.canParse(url))
    throw new UsageError(`'--api-url' must be an absolute URL, got ${JSON.stringify(url)}`);
  return url;
}

/** The client for a command; a missing API key is a usage error, not a 401 round trip. */
export function makeClient(
  values: { 'api-url'?: string | undefined; 'api-key'?: string | undefined },
  ctx: CliContext,
): GigaTokClient {
  const apiKey = values['api-key'] ?? ctx.env.GIGATOK_API_KEY;
  if (!apiKey) throw new UsageError('no API key: set GIGATOK_API_KEY or pass --api-key');
  return new GigaTokClient({
    baseUrl: apiUrl(values, ctx),
    apiKey,
    onRetry: ({ attempt, delayMs, error }) => {
      const why = 'status' in error ? `${error.status} ${error.code}` : error.message;
      ctx.stderr.write(`retry ${attempt} in ${(delayMs / 1000).toFixed(1)}s after ${why}\n`);
    },
  });
}

/** JSON for people: two-space indent, trailing newline. */
export function printJson(stream: OutputStream, value: unknown): void {
  stream.write(`${JSON.stringify(value, null, 2)}\n`);
}
