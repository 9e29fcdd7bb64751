// The models the backends serve (GET /v1/models on each host), merged over every pool, and which hosts
// serve which model, so a call for a model goes only to hosts that list it. Each host's list is cached
// so that validating a request's model does not cost a backend round trip: in the isolate for a
// minute, in the colo's Cache API for five, and a stale copy (up to a day old) is still used when the
// host cannot be reached, since a model's shapes never change under the same id. The same answers carry
// each model's measured seconds per generated image, which sizes the chunks of long generation jobs; a
// minute-old figure is recent enough, and the slowest host's figure counts (a chunk may land on it).
import {
  ApiError,
  BackendModelsResponseSchema,
  ErrorCode,
  type ManifestSummary,
  ManifestSummarySchema,
} from '@gigatok/shared';
import { z } from 'zod';
import { config } from '../config.ts';
import { BackendError, callHostJson } from './host-request.ts';

const FRESH_MS = 60_000;
const STALE_MS = 24 * 3600_000;
const CACHE_PREFIX = 'https://artifacts.gigatok.internal/backend/models/';
const CACHE_SECONDS = 300;
/** After a failed GET /v1/models, how long a host is not asked again (its stale list, if any, serves). */
const RETRY_MS = 5_000;

const ListingSchema = z.object({
  fetchedAt: z.number(),
  models: z.array(ManifestSummarySchema),
  secondsPerImage: z.record(z.string(), z.number().positive()).default({}),
});
type Listing = z.infer<typeof ListingSchema>;

/** What every pool serves together. */
interface Served {
  models: ManifestSummary[];
  secondsPerImage: Record<string, number>;
  /** Model id -> the hosts serving it. */
  hosts: Map<string, string[]>;
}

/** Each host's last list in this isolate, by base URL. */
const listings = new Map<string, Listing>();
/** Hosts whose last GET /v1/models failed: when to ask again, and the failure. */
const failures = new Map<string, { retryAt: number; error: unknown }>();
/** The merged view, recomputed when a list it was built from is no longer fresh or the pools change. */
let view: { key: string; until: number; served: Served } | null = null;

const cacheKey = (host: string) => CACHE_PREFIX + encodeURIComponent(host);

async function fromColoCache(host: string): Promise<Listing | null> {
  const hit = await caches.default.match(cacheKey(host));
  if (!hit) return null;
  const parsed = ListingSchema.safeParse(await hit.json().catch(() => null));
  return parsed.success ? parsed.data : null;
}

/** `host`'s list; `others` says whether other hosts exist (only then is a failed host left alone a while). */
async function hostListing(env: Env, host: string, others: boolean): Promise<Listing> {
  const now = Date.now();
  const memo = listings.get(host);
  if (memo && now - memo.fetchedAt < FRESH_MS) return memo;
  // A host that just failed is not asked on every request (a hung one would hold each for its deadline).
  const failed = others ? failures.get(host) : undefined;
  if (failed && now < failed.retryAt) {
    if (memo && now - memo.fetchedAt < STALE_MS) return memo;
    throw failed.error;
  }
  const colo = await fromColoCache(host);
  if (colo && now - colo.fetchedAt < FRESH_MS) {
    listings.set(host, colo);
    return colo;
  }
  try {
    const answer = await callHostJson(
      env,
      host,
      { method: 'GET', path: '/v1/models' },
      BackendModelsResponseSchema,
      config(env).backendTimeoutMs,
    );
    const listing: Listing = {
      fetchedAt: now,
      models: answer.models,
      secondsPerImage: answer.estimated_seconds_per_image ?? {},
    };
    listings.set(host, listing);
    failures.delete(host);
    await caches.default.put(
      cacheKey(host),
      new Response(JSON.stringify(listing), {
        headers: { 'content-type': 'application/json', 'cache-control': `public, max-age=${CACHE_SECONDS}` },
      }),
    );
    return listing;
  } catch (error) {
    if (error instanceof BackendError && error.retryable)
      failures.set(host, { retryAt: now + RETRY_MS, error });
    const stale = [memo, colo].find((c): c is Listing => !!c && now - c.fetchedAt < STALE_MS);
    if (error instanceof BackendError && error.retryable && stale) return stale;
    throw error;
  }
}

/**
 * Every pool's hosts' lists merged: a host serves a model when it lists it and its pool names it (or
 * names none). Throws only when no host answers and none has a cached list; a host that is down with
 * nothing cached serves nothing until it answers.
 */
async function served(env: Env): Promise<Served> {
  const pools = config(env).backendPools;
  const key = JSON.stringify(pools);
  const now = Date.now();
  if (view && view.key === key && now < view.until) return view.served;
  const hosts = [...new Set(pools.flatMap((pool) => pool.urls))];
  const results = await Promise.allSettled(hosts.map((host) => hostListing(env, host, hosts.length > 1)));
  const byHost = new Map<string, Listing>();
  results.forEach((result, i) => {
    if (result.status === 'fulfilled') byHost.set(hosts[i]!, result.value);
  });
  if (byHost.size === 0) throw (results[0] as PromiseRejectedResult).reason;

  const merged: Served = { models: [], secondsPerImage: {}, hosts: new Map() };
  for (const pool of pools) {
    for (const host of pool.urls) {
      const listing = byHost.get(host);
      if (!listing) continue;
      for (const model of listing.models) {
        if (pool.models && !pool.models.includes(model.id)) continue;
        const serving = merged.hosts.get(model.id);
        if (serving) serving.push(host);
        else {
          merged.hosts.set(model.id, [host]);
          merged.models.push(model);
        }
        const seconds = listing.secondsPerImage[model.id];
        if (seconds !== undefined) {
          merged.secondsPerImage[model.id] = Math.max(merged.secondsPerImage[model.id] ?? 0, seconds);
        }
      }
    }
  }
  const oldest = Math.min(...[...byHost.values()].map((listing) => listing.fetchedAt));
  // A host that did not answer is asked again after RETRY_MS, not a minute later.
  const until = byHost.size === hosts.length ? Math.max(oldest + FRESH_MS, now) : now + RETRY_MS;
  view = { key, until, served: merged };
  return merged;
}

/** The served models; throws a BackendError only when no host answers and nothing is cached. */
export async function listModels(env: Env): Promise<ManifestSummary[]> {
  return (await served(env)).models;
}

/** The hosts serving model `id`, in BACKEND_POOLS order; empty when none lists it. */
export async function hostsServing(env: Env, id: string): Promise<string[]> {
  return (await served(env)).hosts.get(id) ?? [];
}

/** The slowest host's measured seconds per generated image for model `id`; null when none has measured. */
export async function secondsPerImage(env: Env, id: string): Promise<number | null> {
  return (await served(env)).secondsPerImage[id] ?? null;
}

/** The summary of model `id`; `unknown_model` (naming `field`) when no backend serves it. */
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
