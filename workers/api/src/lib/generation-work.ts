// What running a generation means: find the result of these exact parameters (seed included) in R2,
// or ask the backend's /v1/generate for it (a variation: with the source's first `keep` tokens as every
// image's prefix), store every token set and image content-addressed, and
// describe the result. Safe to repeat: every write is write-once under a content id.
import {
  ApiError,
  decodeTokens,
  ErrorCode,
  GenerateResponseSchema,
  type GenerationParams,
  imageId,
  tokenRows,
} from '@gigatok/shared';
import { callBackendJson } from './backend.ts';
import { config } from './config.ts';
import type { GenerationResult } from './generation-view.ts';
import { ensureImages, storeEncodedImage } from './image-store.ts';
import type { Job } from './jobs.ts';
import { getModel } from './models.ts';
import { recordOwnership } from './ownership.ts';
import { getBytes, getGeneration, putGeneration, tokensKey } from './storage.ts';
import { storeTokenSet } from './token-store.ts';

export interface GenerationTarget {
  tenantId: string;
  model: string;
  params: GenerationParams;
  paramsKey: string;
}

function describe(
  target: GenerationTarget,
  tokenIds: string[],
  imageIds: (string | null)[],
): GenerationResult {
  return {
    images: tokenIds.map((tokenId, index) => {
      const image = imageIds[index] ?? null;
      return {
        index,
        class_id: target.params.class_ids[index] ?? null,
        token_id: tokenId,
        tokens_url: `/v1/tokens/${tokenId}`,
        image_id: image,
        image_url: image === null ? null : `/v1/images/${image}`,
      };
    }),
  };
}

async function readRow(bucket: R2Bucket, tokenId: string): Promise<number[]> {
  const bytes = await getBytes(bucket, tokensKey(tokenId));
  if (!bytes) throw new Error(`token set ${tokenId} is missing from R2`);
  const set = decodeTokens(bytes);
  return tokenRows(set.tokens, set.tokensPerImage)[0]!;
}

/**
 * The result of these parameters when this tenant generated them before and R2 holds it (images
 * included when asked); null when the backend has work to do. Records the tenant's ownership of what
 * it returns. Another tenant's run of the same parameters is not looked at: the backend runs them
 * again for this tenant (same tokens, the blobs are not rewritten), so no tenant learns from
 * `cached: true` what another generated.
 */
export async function storedResult(
  env: Env,
  target: GenerationTarget,
  decode = false,
): Promise<GenerationResult | null> {
  const stored = await getGeneration(env.ARTIFACTS, target.tenantId, target.paramsKey);
  if (!stored) return null;
  let imageIds: (string | null)[] = stored.token_ids.map(() => null);
  if (target.params.output.images) {
    const images = await ensureImages(
      env,
      target.model,
      stored.token_ids.map((tokenId) => ({ tokenId, row: () => readRow(env.ARTIFACTS, tokenId) })),
      target.params.output.format,
      { decode },
    );
    if (!images) return null;
    imageIds = images.ids;
  }
  await recordOwnership(env, target.tenantId, [...stored.token_ids, ...imageIds.filter((id) => id !== null)]);
  return describe(target, stored.token_ids, imageIds);
}

/** Produces the job's result: from R2 when these parameters ran before, else from the backend. */
export async function produceResult(
  env: Env,
  job: Job,
): Promise<{ result: GenerationResult; cached: boolean }> {
  const target: GenerationTarget = {
    tenantId: job.tenantId,
    model: job.model,
    params: job.params,
    paramsKey: job.paramsKey,
  };
  const fromStore = await storedResult(env, target, true);
  if (fromStore) return { result: fromStore, cached: true };

  const { params } = target;
  const summary = await getModel(env, job.model);
  let prefixes: number[][] | undefined;
  if (params.variation !== undefined) {
    // The source set is content-addressed and write-once: it is in R2 since the request stored it.
    const source = await readRow(env.ARTIFACTS, params.variation.source_token_id);
    const prefix = source.slice(0, params.variation.keep);
    prefixes = params.class_ids.map(() => prefix);
  }
  const answer = await callBackendJson(
    env,
    {
      method: 'POST',
      path: '/v1/generate',
      json: {
        model: job.model,
        seed: params.seed,
        class_ids: params.class_ids,
        cfg_scale: params.cfg_scale,
        cfg_schedule: params.cfg_schedule,
        temperature: params.temperature,
        top_k: params.top_k,
        top_p: params.top_p,
        ...(prefixes === undefined ? {} : { prefixes }),
        return_images: params.output.images,
        format: params.output.format,
        request_id: job.id,
      },
      timeoutMs: config(env).generateTimeoutMs,
    },
    GenerateResponseSchema,
  );
  if (answer.model !== job.model || answer.seed !== params.seed) {
    throw new ApiError(ErrorCode.backend_error, 'the backend answered /v1/generate for other parameters');
  }
  const count = params.class_ids.length;
  if (answer.tokens.length !== count) {
    throw new ApiError(
      ErrorCode.backend_error,
      `the backend generated ${answer.tokens.length} of ${count} images`,
    );
  }
  // One token set per image, so each image's tokens have their own id and URL.
  const sets = await Promise.all(answer.tokens.map((row) => storeTokenSet(env.ARTIFACTS, summary, [row], 1)));
  const tokenIds = sets.map((s) => s.id);
  if (params.output.images && answer.images?.length === count) {
    await Promise.all(
      answer.images.map(async (encoded, i) => {
        const id = await imageId({ token_id: tokenIds[i]!, format: params.output.format });
        await storeEncodedImage(env.ARTIFACTS, id, encoded, {
          model: job.model,
          tokenId: tokenIds[i]!,
          format: params.output.format,
        });
      }),
    );
  }
  // Written last: its presence promises that every token set above is stored.
  await putGeneration(env.ARTIFACTS, job.tenantId, job.paramsKey, {
    model: job.model,
    seed: params.seed,
    token_ids: tokenIds,
  });
  // Images the backend did not return (or not all of them) are decoded from the stored tokens.
  const result = await storedResult(env, target, true);
  if (!result) throw new Error(`generation ${job.paramsKey} was stored but cannot be read back`);
  return { result, cached: false };
}
