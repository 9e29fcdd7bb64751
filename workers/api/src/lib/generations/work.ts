// What running a generation means: find the result of these exact parameters (seed included) in R2,
// or ask the backend's /v1/generate for it, chunk by chunk (a variation: with the source's first `keep`
// tokens as every image's prefix), store every token set and image content-addressed, and
// describe the result. Safe to repeat: every write is write-once under a content id.
import {
  ApiError,
  decodeTokens,
  ErrorCode,
  GenerateResponseSchema,
  type GenerationParams,
  generateSampling,
  imageId,
  tokenRows,
} from '@gigatok/shared';
import { callBackendJson } from '../backend/client.ts';
import { getModel } from '../backend/models.ts';
import { config } from '../config.ts';
import { decodeImages, findImages, storeEncodedImage } from '../images/store.ts';
import { getBytes, getGeneration, putGeneration, tokensKey } from '../storage/artifacts.ts';
import { recordOwnership } from '../storage/ownership.ts';
import { storeTokenSet } from '../tokens/store.ts';
import type { Job } from './jobs.ts';
import type { GenerationResult } from './view.ts';

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
 * What this tenant's earlier run of the parameters stored: its token ids, their image ids when the
 * parameters ask for images (null entries otherwise), and the images not in R2 yet.
 */
async function earlierRun(env: Env, target: GenerationTarget) {
  const stored = await getGeneration(env.ARTIFACTS, target.tenantId, target.paramsKey);
  if (!stored) return null;
  const tokenIds = stored.token_ids;
  if (!target.params.output.images) {
    return { tokenIds, imageIds: tokenIds.map(() => null), missing: [] };
  }
  const sources = tokenIds.map((tokenId) => ({ tokenId, row: () => readRow(env.ARTIFACTS, tokenId) }));
  const { ids, missing } = await findImages(env, sources, target.params.output.format);
  return { tokenIds, imageIds: ids, missing };
}

/** Records the tenant's ownership of a result's token sets and images, and describes it. */
async function ownedResult(
  env: Env,
  target: GenerationTarget,
  run: { tokenIds: string[]; imageIds: (string | null)[] },
): Promise<GenerationResult> {
  await recordOwnership(env, target.tenantId, [...run.tokenIds, ...run.imageIds.filter((id) => id !== null)]);
  return describe(target, run.tokenIds, run.imageIds);
}

/**
 * The answer for a request whose parameters this tenant generated before, when R2 holds all of it
 * (images included when asked); null when the backend has work to do. Another tenant's run of the
 * same parameters is not looked at: the backend runs them again for this tenant (same tokens, the
 * blobs are not rewritten), so no tenant learns from `cached: true` what another generated.
 */
export async function cachedResult(env: Env, target: GenerationTarget): Promise<GenerationResult | null> {
  const run = await earlierRun(env, target);
  if (!run || run.missing.length > 0) return null;
  return ownedResult(env, target, run);
}

/**
 * This tenant's stored run of the parameters made whole: images that are not in R2 yet (the backend
 * did not return them, or an earlier run asked for none) are decoded from the stored tokens.
 */
async function completedResult(env: Env, target: GenerationTarget): Promise<GenerationResult | null> {
  const run = await earlierRun(env, target);
  if (!run) return null;
  await decodeImages(env, target.model, run.missing, target.params.output.format);
  return ownedResult(env, target, run);
}

/** What running one chunk of a job gave: the whole result, or the token sets finished so far. */
export type ChunkOutcome =
  | { done: true; result: GenerationResult; cached: boolean }
  | { done: false; tokenIds: string[] };

/**
 * Runs the images [from, to) of a job (a chunk; the whole job when it fits one backend call): the
 * first chunk answers from R2 when these parameters ran before; otherwise the backend samples the
 * chunk with `first_index = from`, so each image gets the tokens one call of the whole job would give
 * it. `job.doneTokenIds` holds the earlier chunks' token sets; after the last chunk the result is
 * assembled and stored as one generation.
 */
export async function produceChunk(
  env: Env,
  job: Job,
  range: { from: number; to: number },
): Promise<ChunkOutcome> {
  const target: GenerationTarget = {
    tenantId: job.tenantId,
    model: job.model,
    params: job.params,
    paramsKey: job.paramsKey,
  };
  const { params } = target;
  const total = params.class_ids.length;
  const { from, to } = range;
  if (job.doneTokenIds.length !== from || from >= to || to > total) {
    throw new Error(
      `generation ${job.id}: chunk [${from}, ${to}) of ${total} does not follow ${job.doneTokenIds.length} finished images`,
    );
  }
  if (from === 0) {
    const fromStore = await completedResult(env, target);
    if (fromStore) return { done: true, result: fromStore, cached: true };
  }

  const summary = await getModel(env, job.model);
  const classIds = params.class_ids.slice(from, to);
  let prefixes: number[][] | undefined;
  if (params.variation !== undefined) {
    // The source set is content-addressed and write-once: it is in R2 since the request stored it.
    const source = await readRow(env.ARTIFACTS, params.variation.source_token_id);
    const prefix = source.slice(0, params.variation.keep);
    prefixes = classIds.map(() => prefix);
  }
  const answer = await callBackendJson(
    env,
    {
      method: 'POST',
      path: '/v1/generate',
      json: {
        model: job.model,
        ...generateSampling(params),
        class_ids: classIds,
        ...(prefixes === undefined ? {} : { prefixes }),
        ...(from === 0 ? {} : { first_index: from }),
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
  const count = classIds.length;
  if (answer.tokens.length !== count) {
    throw new ApiError(
      ErrorCode.backend_error,
      `the backend generated ${answer.tokens.length} of ${count} images`,
    );
  }
  // One token set per image, so each image's tokens have their own id and URL.
  const sets = await Promise.all(answer.tokens.map((row) => storeTokenSet(env.ARTIFACTS, summary, [row], 1)));
  const chunkTokenIds = sets.map((s) => s.id);
  if (params.output.images && answer.images?.length === count) {
    await Promise.all(
      answer.images.map(async (encoded, i) => {
        const id = await imageId({ token_id: chunkTokenIds[i]!, format: params.output.format });
        await storeEncodedImage(env.ARTIFACTS, id, encoded, {
          model: job.model,
          tokenId: chunkTokenIds[i]!,
          format: params.output.format,
        });
      }),
    );
  }
  const tokenIds = [...job.doneTokenIds, ...chunkTokenIds];
  if (to < total) return { done: false, tokenIds };

  // Written last: its presence promises that every token set above is stored.
  await putGeneration(env.ARTIFACTS, job.tenantId, job.paramsKey, {
    model: job.model,
    seed: params.seed,
    token_ids: tokenIds,
  });
  // Images the backend did not return (or not all of them) are decoded from the stored tokens.
  const result = await completedResult(env, target);
  if (!result) throw new Error(`generation ${job.paramsKey} was stored but cannot be read back`);
  return { done: true, result, cached: false };
}
