// Reading API responses at the boundary: JSON through shared's zod schemas, token sets through the
// GTOK decoder, images by content type. Anything off-contract becomes a GigaTokResponseError here.

import { decodeTokens, TOKENS_MEDIA_TYPE, TokenFormatError, tokenRows, tokenSetId } from '@gigatok/shared';
import { GigaTokResponseError } from './errors.ts';
import { bodyText, type HttpResponse } from './http.ts';
import { type Schema, type TokensJson, TokensJsonSchema } from './schemas.ts';

export type TokenFormat = 'json' | 'binary';

/** What every token-returning call adds to the body: the validators and cache outcome headers. */
export interface ResponseMeta {
  /** Strong ETag of the token set or image (pass it back as `ifNoneMatch`). */
  etag: string | null;
  /** The Worker's `X-Cache` header: whether the result was already stored. */
  cache: 'hit' | 'miss' | null;
}

/** Tokens as JSON, exactly as the API sends them (snake_case), plus response metadata. */
export type JsonTokens = TokensJson & ResponseMeta;

/** Tokens decoded from the GTOK binary format, plus their id, the raw blob and response metadata. */
export interface BinaryTokens extends ResponseMeta {
  id: string;
  model: string;
  codebookSize: number;
  tokensPerImage: number;
  count: number;
  /** Flat, row-major [count, tokensPerImage]. */
  tokens: Uint32Array;
  /** The GTOK blob as received (write it to a `.gtok` file as is). */
  bytes: Uint8Array;
}

export type TokensFor<F extends TokenFormat> = F extends 'binary' ? BinaryTokens : JsonTokens;

/** A conditional request found the cached copy still current (HTTP 304). */
export interface NotModified {
  notModified: true;
  etag: string | null;
}

export function isNotModified(value: unknown): value is NotModified {
  return typeof value === 'object' && value !== null && (value as NotModified).notModified === true;
}

export interface ImageResult extends ResponseMeta {
  bytes: Uint8Array;
  imageId: string;
  contentType: string;
  /** The token set the image was rendered from (detokenize's X-Token-Id), when the server says. */
  tokenId: string | null;
}

export function malformed(response: HttpResponse, detail: string, cause?: unknown): GigaTokResponseError {
  return new GigaTokResponseError(`${response.method} ${response.url}: ${detail}`, {
    status: response.status,
    method: response.method,
    url: response.url,
    cause,
  });
}

/** Parses a JSON body with a shared schema; anything off-contract is a GigaTokResponseError. */
export function readJson<T>(response: HttpResponse, schema: Schema<T>): T {
  const type = response.headers.get('content-type') ?? '';
  if (!/\bjson\b/i.test(type))
    throw malformed(response, `expected JSON, got content type ${JSON.stringify(type)}`);
  let value: unknown;
  try {
    value = JSON.parse(bodyText(response));
  } catch (error) {
    throw malformed(response, 'the body is not valid JSON', error);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw malformed(
      response,
      `response does not match the API contract${where}: ${issue?.message}`,
      parsed.error,
    );
  }
  return parsed.data;
}

function meta(response: HttpResponse): ResponseMeta {
  const cache = response.headers.get('x-cache')?.toLowerCase();
  return {
    etag: response.headers.get('etag'),
    cache: cache === 'hit' || cache === 'miss' ? cache : null,
  };
}

/**
 * Token set ids are content ids (shared's tokenSetId over model, sizes and values), so the client can
 * check that what it received is what the id names: a corrupted or mixed-up body fails here.
 */
async function checkContentId(
  response: HttpResponse,
  named: string,
  set: { model: string; codebook_size: number; tokens_per_image: number; tokens: number[][] },
): Promise<void> {
  const actual = await tokenSetId(set);
  if (actual !== named) {
    throw malformed(response, `token set named ${named} holds the tokens of ${actual}`);
  }
}

export async function readJsonTokens(
  response: HttpResponse,
  requestedId: string | null,
): Promise<JsonTokens> {
  const body = readJson(response, TokensJsonSchema);
  if (requestedId !== null && body.id !== requestedId) {
    throw malformed(response, `asked for token set ${requestedId}, got ${body.id}`);
  }
  await checkContentId(response, body.id, body);
  return { ...body, ...meta(response) };
}

const TOKEN_ID_IN_PATH = /\/v1\/tokens\/(tok_[a-z2-7]+)/;

export async function readBinaryTokens(
  response: HttpResponse,
  requestedId: string | null,
): Promise<BinaryTokens> {
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith(TOKENS_MEDIA_TYPE)) {
    throw malformed(response, `expected ${TOKENS_MEDIA_TYPE}, got content type ${JSON.stringify(type)}`);
  }
  let set: ReturnType<typeof decodeTokens>;
  try {
    set = decodeTokens(response.body);
  } catch (error) {
    if (error instanceof TokenFormatError)
      throw malformed(response, `bad GTOK blob (${error.reason}): ${error.message}`, error);
    throw error;
  }
  const wire = {
    model: set.model,
    codebook_size: set.codebookSize,
    tokens_per_image: set.tokensPerImage,
    tokens: tokenRows(set.tokens, set.tokensPerImage),
  };
  // The binary body carries no id: it is the one we asked for, or the one the server names in its
  // headers (X-Token-Id, Location), or else derived from the values exactly as the server derives it.
  const located = TOKEN_ID_IN_PATH.exec(response.headers.get('location') ?? '')?.[1];
  const named = requestedId ?? response.headers.get('x-token-id') ?? located;
  const id = named ?? (await tokenSetId(wire));
  if (named) await checkContentId(response, named, wire);
  return { id, ...set, bytes: response.body, ...meta(response) };
}

export function readImage(response: HttpResponse, id: string | null): ImageResult {
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.startsWith('image/')) {
    throw malformed(response, `expected an image, got content type ${JSON.stringify(contentType)}`);
  }
  const imageId = id ?? /\/v1\/images\/([^/?#]+)/.exec(response.headers.get('location') ?? '')?.[1];
  if (!imageId) throw malformed(response, 'the response names no image id (X-Image-Id or Location)');
  const tokenId = response.headers.get('x-token-id');
  return { bytes: response.body, imageId, contentType, tokenId, ...meta(response) };
}
