// Long generation jobs run as several backend calls (chunks), one queue message each: the chunk size
// follows the backend's measured speed, progress grows chunk by chunk, each image gets the tokens one
// call of the whole job gives it, a cancel stops the job between chunks, a redelivered chunk message
// runs nothing, a retry after a consumer died resumes after the last finished chunk, and the cron
// sweep re-sends a lost next-chunk message.
//
// The stub reports 0.3 s an image for the model and the tests run with GENERATE_TIMEOUT_MS = 2000, so a
// chunk fills half of 2 s: floor(1 / 0.3) = 3 images. Set before the Worker first asks for the models.
import { env } from 'cloudflare:workers';
import {
  type Generation,
  GenerationSchema,
  resolveGenerationParams,
  TokensResponseSchema,
  uniform,
} from '@gigatok/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import { claimJob, getJob, type Job, recordChunk } from '../src/lib/generations/jobs.ts';
import type { GenerationMessage } from '../src/lib/generations/queue-message.ts';
import { storeTokenSet } from '../src/lib/tokens/store.ts';
import { scheduled, UNCLAIMED_AFTER_MS } from '../src/scheduled.ts';
import { backend, NANO } from './backend-stub.ts';
import { api, insertQueuedJob, newTenant, postJson, runQueue, type TestKey, waitFor } from './helpers.ts';

backend.secondsPerImage.set(NANO.id, 0.3);

const GENERATIONS = 'gigatok-generations';
const CHUNK = 3;

let alice: TestKey;
let nextSeed = 700_000;

beforeAll(async () => {
  alice = await newTenant('alice');
});

/** A queued job of `count` images of class 4, written straight to D1 (the real queue never sees it). */
async function queuedJob(count: number): Promise<Job> {
  const params = resolveGenerationParams({ class_id: 4, count, seed: nextSeed++ }, NANO);
  return insertQueuedJob(alice.tenantId, params);
}

/**
 * The Worker's bindings with a GENERATIONS queue that keeps what the consumer enqueues, so the test
 * delivers each next-chunk message itself, when it chooses.
 */
function heldQueue(): { bindings: Env; sent: GenerationMessage[] } {
  const sent: GenerationMessage[] = [];
  const queue = {
    send: async (body: GenerationMessage) => {
      sent.push(body);
    },
    sendBatch: async (messages: { body: GenerationMessage }[]) => {
      for (const m of messages) sent.push(m.body);
    },
  } as unknown as Queue;
  return { bindings: { ...env, GENERATIONS: queue }, sent };
}

async function view(id: string): Promise<Generation> {
  const response = await api(alice.key, `/v1/generations/${id}`);
  expect(response.status).toBe(200);
  return GenerationSchema.parse(await response.json());
}

/** The first images of each backend call for `seed`, and how many images each carried. */
function chunksCalled(seed: number): { first: number | undefined; images: number }[] {
  return backend.generateCalls(seed).map((call) => {
    const body = call.body as { first_index?: number; class_ids: unknown[] };
    return { first: body.first_index, images: body.class_ids.length };
  });
}

/** The tokens image `index` of a job with `seed` gets from one backend call of the whole job. */
function oneCallRow(seed: number, index: number): number[] {
  return [...Array(NANO.tokens_per_image).keys()].map((t) =>
    Math.floor(uniform(seed, index, t) * NANO.codebook_size),
  );
}

describe('long generation jobs in chunks', () => {
  it('runs a count-8 job submitted through the API as calls of 3, 3 and 2 images, each image as one call gives it', async () => {
    const seed = nextSeed++;
    const submitted = await postJson(alice.key, '/v1/generations', { class_id: 4, count: 8, seed });
    expect(submitted.status).toBe(202);
    const queued = GenerationSchema.parse(await submitted.json());
    expect(queued.progress).toEqual({ images_done: 0, images_total: 8 });

    const done = await waitFor(async () => {
      const job = await view(queued.id);
      return job.status === 'succeeded' ? job : null;
    });
    expect(chunksCalled(seed)).toEqual([
      { first: undefined, images: CHUNK },
      { first: 3, images: CHUNK },
      { first: 6, images: 2 },
    ]);
    expect(done).toMatchObject({ attempts: 1, progress: { images_done: 8, images_total: 8 } });
    const images = done.result!.images;
    expect(images.map((image) => image.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const image of images) {
      const tokens = TokensResponseSchema.parse(
        await (await api(alice.key, image.tokens_url, { headers: { accept: 'application/json' } })).json(),
      );
      expect(tokens.tokens[0], `image ${image.index}`).toEqual(oneCallRow(seed, image.index));
      expect(image.image_url).not.toBeNull();
    }
  });

  it('records progress after each chunk and enqueues the next one, until the job succeeds', async () => {
    const job = await queuedJob(8);
    const { bindings, sent } = heldQueue();

    const first = await runQueue(GENERATIONS, [{ job_id: job.id }], 1, bindings);
    expect(first.acked).toHaveLength(1);
    expect(sent).toEqual([{ job_id: job.id, from_image: 3 }]);
    expect(await getJob(env.DB, job.id)).toMatchObject({
      status: 'running',
      imagesDone: 3,
      leaseUntil: null,
    });
    expect((await view(job.id)).progress).toEqual({ images_done: 3, images_total: 8 });

    await runQueue(GENERATIONS, [sent[0]], 1, bindings);
    expect(sent[1]).toEqual({ job_id: job.id, from_image: 6 });
    expect((await view(job.id)).progress).toEqual({ images_done: 6, images_total: 8 });

    await runQueue(GENERATIONS, [sent[1]], 1, bindings);
    expect(sent).toHaveLength(2);
    const done = await view(job.id);
    expect(done).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      progress: { images_done: 8, images_total: 8 },
    });
    expect(done.result!.images).toHaveLength(8);
    expect(backend.generateCalls(job.params.seed)).toHaveLength(3);
  });

  it('stops between chunks when the job is canceled: no further backend call, ends canceled', async () => {
    const job = await queuedJob(8);
    const { bindings, sent } = heldQueue();
    await runQueue(GENERATIONS, [{ job_id: job.id }], 1, bindings);
    expect(backend.generateCalls(job.params.seed)).toHaveLength(1);

    const canceled = await api(alice.key, `/v1/generations/${job.id}/cancel`, { method: 'POST' });
    expect(canceled.status).toBe(200);

    const next = await runQueue(GENERATIONS, [sent[0]], 1, bindings);
    expect(next.acked).toHaveLength(1);
    expect(backend.generateCalls(job.params.seed)).toHaveLength(1);
    expect(sent).toHaveLength(1);
    const ended = await view(job.id);
    expect(ended).toMatchObject({
      status: 'canceled',
      result: null,
      progress: { images_done: 3, images_total: 8 },
    });
  });

  it('runs nothing for a redelivered chunk message, and the job still ends with each chunk called once', async () => {
    const job = await queuedJob(8);
    const { bindings, sent } = heldQueue();
    await runQueue(GENERATIONS, [{ job_id: job.id }], 1, bindings);
    // The first chunk's message again (a redelivery): its chunk is done, nobody holds the job, so it
    // only enqueues the next chunk again.
    const again = await runQueue(GENERATIONS, [{ job_id: job.id }], 2, bindings);
    expect(again.acked).toHaveLength(1);
    expect(backend.generateCalls(job.params.seed)).toHaveLength(1);
    expect(sent).toEqual([
      { job_id: job.id, from_image: 3 },
      { job_id: job.id, from_image: 3 },
    ]);
    // Both copies of the second chunk's message, delivered in one batch: one runs it.
    await runQueue(GENERATIONS, [sent[0], sent[1]], 1, bindings);
    expect(backend.generateCalls(job.params.seed)).toHaveLength(2);
    const third = sent.filter((m) => m.from_image === 6);
    expect(third.length).toBeGreaterThanOrEqual(1);
    await runQueue(GENERATIONS, third, 1, bindings);
    expect(chunksCalled(job.params.seed).map((c) => c.first)).toEqual([undefined, 3, 6]);
    expect(await getJob(env.DB, job.id)).toMatchObject({ status: 'succeeded', attempts: 1, imagesDone: 8 });
  });

  it('resumes after the last finished chunk when the consumer of a chunk died, as a new attempt', async () => {
    const job = await queuedJob(8);
    const { bindings, sent } = heldQueue();
    await runQueue(GENERATIONS, [{ job_id: job.id }], 1, bindings);
    // A consumer took the second chunk and died: its lease ran out.
    const dead = (await claimJob(env.DB, job.id, 1, Date.now() - 10_000, 3))!;
    expect(dead.attempts).toBe(1);
    // Its message comes back: the chunk is taken again under attempt 2, the first chunk is not redone.
    const retried = await runQueue(GENERATIONS, [sent[0]], 2, bindings);
    expect(retried.acked).toHaveLength(1);
    expect(chunksCalled(job.params.seed).map((c) => c.first)).toEqual([undefined, 3]);
    expect(await getJob(env.DB, job.id)).toMatchObject({ status: 'running', attempts: 2, imagesDone: 6 });
    // The dead attempt cannot record anything any more.
    expect(await recordChunk(env.DB, job.id, 1, 6, [])).toBeNull();
    await runQueue(GENERATIONS, [sent[1]], 1, bindings);
    expect(await view(job.id)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('has the cron sweep enqueue the next chunk of a job whose next-chunk message was lost', async () => {
    const job = await queuedJob(5);
    // The first chunk as a consumer that recorded it and then died before enqueueing the next one.
    const claimed = (await claimJob(env.DB, job.id, 60_000))!;
    const tokenIds: string[] = [];
    for (let i = 0; i < CHUNK; i++) {
      const set = await storeTokenSet(env.ARTIFACTS, NANO, [oneCallRow(job.params.seed, i)], 1);
      tokenIds.push(set.id);
    }
    const stale = Date.now() - UNCLAIMED_AFTER_MS - 1000;
    expect(await recordChunk(env.DB, job.id, claimed.attempts, 0, tokenIds, stale)).not.toBeNull();
    const recent = await queuedJob(5);
    const recentClaim = (await claimJob(env.DB, recent.id, 60_000))!;
    await recordChunk(env.DB, recent.id, recentClaim.attempts, 0, tokenIds);

    await scheduled({} as ScheduledController, env);
    await waitFor(async () => (await getJob(env.DB, job.id))?.status === 'succeeded');
    expect(chunksCalled(job.params.seed)).toEqual([{ first: 3, images: 2 }]);
    expect(await getJob(env.DB, recent.id)).toMatchObject({ status: 'running', imagesDone: CHUNK });
  });
});
