// The models the backend serves (GET /v1/models on the backend), cached so that validating a request's
// model does not cost a backend round trip: in the isolate for a minute, in the colo's Cache API for
// five, and a stale copy (up to a day old) is still used when the backend cannot be reached, since a
// model's shapes never change under the same id. The same answer carries each model's measured seconds
// per generated image, which sizes the chunks of long generation jobs; a minute-old figure is recent enough.
import {
  ApiError,
  BackendModelsResponseSchema,
  ErrorCode,
  type ManifestSummary,
  ManifestSummarySchema,
} from '@gigatok/shared';
import { z } from 'zod';
import { BackendError, callBackendJson } from './client.ts';

const FRESH_MS = 60_000;
const STALE_MS = 24 * 3600_000;
const CACHE_KEY = 'https://artifacts.gigatok.internal/backend/models';
const CACHE_SECONDS = 300;

const CachedSchema = z.object({
  fetchedAt: z.number(),
  models: z.array(ManifestSummarySchema),
  secondsPerImage: z.record(z.string(), z.number().positive()).default({}),
});
type Cached = z.infer<typeof CachedSchema>;

let memo: Cached | null = null;

async function fromColoCache(): Promise<Cached | null> {
  const hit = await caches.default.match(CACHE_KEY);
  if (!hit) return null;
  const parsed = CachedSchema.safeParse(await hit.json().catch(() => null));
  return parsed.success ? parsed.data : null;
}

async function backendModels(env: Env): Promise<Cached> {
  const now = Date.now();
  if (memo && now - memo.fetchedAt < FRESH_MS) return memo;
  const colo = await fromColoCache();
  if (colo && now - colo.fetchedAt < FRESH_MS) {
    memo = colo;
    return colo;
  }
  try {
    const answer = await callBackendJson(
      env,
      { method: 'GET', path: '/v1/models' },
      BackendModelsResponseSchema,
    );
    memo = {
      fetchedAt: now,
      models: answer.models,
      secondsPerImage: answer.estimated_seconds_per_image ?? {},
    };
    await caches.default.put(
      CACHE_KEY,
      new Response(JSON.stringify(memo), {
        headers: { 'content-type': 'application/json', 'cache-control': `public, max-age=${CACHE_SECONDS}` },
      }),
    );
    return memo;
  } catch (error) {
    const stale = [memo, colo].find((c): c is Cached => c !== null && now - c.fetchedAt < STALE_MS);
    if (error instanceof BackendError && error.retryable && stale) return stale;
    throw error;
  }
}

/** The loaded models; throws a BackendError only when the backend is down and nothing is cached. */
export async function listModels(env: Env): Promise<ManifestSummary[]> {
  return (await backendModels(env)).models;
}

/** The backend's measured seconds per generated image for model `id`; null when it has measured none. */
export async function secondsPerImage(env: Env, id: string): Promise<number | null> {
  return (await backendModels(env)).secondsPerImage[id] ?? null;
}

/** The summary of model `id`; `unknown_model` (naming `field`) when the backend does not serve it. */
export async function getModel(env: Env, id: string, field = 'model'): Promise<ManifestSummary> {
  const models = await listModels(env);
  const model = models.find((m) => m.id === id);
  if (!model) {
    const known = models.map((m) => m.id).join(', ') || 'none';
    throw new ApiError(
      ErrorCode.unknown_model,
      `'${field}' names no served model: '${id}' (served: ${known})`,
      {
        field,
      },
    );
  }
  return model;
}
