// `gigatok tokenize` and `gigatok detokenize`: image <-> tokens, with tokens kept in GTOK files
// (docs/token-format.md) or referred to by their `tok_` id.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { decodeTokens, TOKEN_ID_RE, TokenFormatError, tokensResponse } from '@gigatok/shared';
import type { DetokenizeInput } from '../../client.ts';
import {
  choiceFlag,
  expectPositionals,
  GLOBAL_HELP,
  intFlag,
  parseCommandArgs,
  UsageError,
} from '../args.ts';
import { type Command, makeClient, printJson } from '../context.ts';
import { writeOutput } from '../files.ts';

export const tokenize: Command = {
  name: 'tokenize',
  summary: 'image -> tokens (prints the token set id; --out writes a .gtok file)',
  usage: `Usage: gigatok tokenize <image> [--model ID] [--out tokens.gtok] [--json]

Tokenizes an image (PNG, JPEG, WebP) with the API's tokenizer.
  --model ID      model id (default: the API's default model)
  --out FILE      write the tokens in the GTOK binary format (.gtok); "-" for stdout
  --json          print the token set as JSON on stdout
Without --json, prints "<tok_id> <model> <count>x<tokens per image> cache=<hit|miss>".

${GLOBAL_HELP}`,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs(args, {
      model: { type: 'string' },
      out: { type: 'string', short: 'o' },
      json: { type: 'boolean' },
    });
    const [path] = expectPositionals(positionals, ['image']);
    const image = await readInput(path!);
    const client = makeClient(values, ctx);
    const request = { model: values.model, signal: ctx.signal };
    if (values.out === undefined) {
      const set = await client.tokenize(image, request);
      if (values.json) {
        const { etag: _etag, cache: _cache, ...body } = set;
        printJson(ctx.stdout, body);
      } else {
        ctx.stdout.write(`${set.id} ${set.model} ${set.shape.join('x')} cache=${set.cache ?? '-'}\n`);
      }
      return 0;
    }
    const set = await client.tokenize(image, { ...request, format: 'binary' });
    await writeOutput(values.out, set.bytes, ctx);
    if (values.json) {
      printJson(ctx.stdout, tokensResponse(set.id, set));
    } else if (values.out !== '-') {
      ctx.stdout.write(
        `${set.id} ${set.model} ${set.count}x${set.tokensPerImage} cache=${set.cache ?? '-'}\n`,
      );
      ctx.stderr.write(`wrote ${values.out} (${set.bytes.length} bytes)\n`);
    }
    return 0;
  },
};

export const detokenize: Command = {
  name: 'detokenize',
  summary: 'tokens (.gtok file, JSON file or tok_ id) -> image file',
  usage: `Usage: gigatok detokenize <tokens.gtok|tokens.json|tok_id> --out img.png [--format png|webp] [--index N]

Decodes one image's tokens back to an image.
  --out FILE      where to write the image ("-" for stdout); required
  --format F      png or webp (default: from the --out extension, else png)
  --index N       which image of a multi-image token file (default 0)
  --model ID      model id (default: the one in the token file, else the API's default)
Prints the image id on stdout.

${GLOBAL_HELP}`,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs(args, {
      out: { type: 'string', short: 'o' },
      format: { type: 'string' },
      index: { type: 'string' },
      model: { type: 'string' },
    });
    const [source] = expectPositionals(positionals, ['tokens']);
    if (values.out === undefined) throw new UsageError("'--out' is required");
    const format =
      choiceFlag(values.format, 'format', ['png', 'webp'] as const) ??
      (values.out.toLowerCase().endsWith('.webp') ? 'webp' : 'png');
    const index = intFlag(values.index, 'index', 0, 2 ** 32 - 1) ?? 0;
    const input = await tokensInput(source!, index);
    const client = makeClient(values, ctx);
    const image = await client.detokenize(
      { ...input, format, model: values.model ?? input.model },
      { signal: ctx.signal },
    );
    await writeOutput(values.out, image.bytes, ctx);
    if (values.out !== '-') {
      ctx.stdout.write(`${image.imageId}\n`);
      ctx.stderr.write(`wrote ${values.out} (${image.bytes.length} bytes, ${image.contentType})\n`);
    }
    return 0;
  },
};

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** A `tok_` id (when no such file exists), a GTOK file, or a JSON file with a `tokens` member. */
async function tokensInput(source: string, index: number): Promise<DetokenizeInput> {
  if (TOKEN_ID_RE.test(source) && !existsSync(source)) return { tokenId: source };
  const bytes = await readInput(source);
  if (String.fromCharCode(...bytes.subarray(0, 4)) === 'GTOK') {
    let set: ReturnType<typeof decodeTokens>;
    try {
      set = decodeTokens(bytes);
    } catch (error) {
      if (error instanceof TokenFormatError) throw new UsageError(`${source}: ${error.message}`);
      throw error;
    }
    if (index >= set.count) {
      throw new UsageError(`'--index' must be in [0, ${set.count - 1}] for ${source}, got ${index}`);
    }
    const row = set.tokens.subarray(index * set.tokensPerImage, (index + 1) * set.tokensPerImage);
    return { tokens: Array.from(row), model: set.model };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new UsageError(`${source} is neither a GTOK file nor JSON`);
  }
  const { tokens, model } = (parsed ?? {}) as { tokens?: unknown; model?: unknown };
  const rows = Array.isArray(tokens) && Array.isArray(tokens[0]) ? tokens : [tokens];
  const row = rows[index];
  if (!Array.isArray(row) || !row.every((t) => Number.isInteger(t))) {
    throw new UsageError(`${source} has no 'tokens' row ${index} of integers`);
  }
  return { tokens: row as number[], model: typeof model === 'string' ? model : undefined };
}
