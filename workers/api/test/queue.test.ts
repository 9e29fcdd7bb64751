// The generations queue consumer, driven message by message: claims, duplicate deliveries, leases,
// retries with backoff while the backend is down, permanent failures, the dead-letter path and the
// cron sweep of lost messages.
// Jobs are written straight to D1 (never enqueued), so only the batches built here reach them.

import { env } from 'cloudflare:workers';
import { resolveGenerationParams } from '@gigatok/shared';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { retryDelaySeconds } from '../src/lib/generations/consumer.ts';
import { cancelJob, claimJob, completeJob, getJob, type Job } from '../src/lib/generations/jobs.ts';
import { scheduled, UNCLAIMED_AFTER_MS } from '../src/scheduled.ts';
import { backend, NANO } from './backend-stub.ts';
import { insertQueuedJob, newTenant, runQueue, type TestKey, waitFor } from './helpers.ts';

const GENERATIONS = 'gigatok-generations';
const DEAD_LETTERS = 'gigatok-generations-dlq';

let alice: TestKey;
let nextSeed = 900_000;

beforeAll(async () => {
  alice = await newTenant('alice');
});

afterEach(() => {
  backend.generateModes.clear();
});

async function queuedJob(overrides: Partial<Job> = {}, request: Record<string, unknown> = {}): Promise<Job> {
  const params = resolveGenerationParams({ class_id: 2, ...request, seed: nextSeed++ }, NANO);
  return insertQueuedJob(alice.tenantId, params, overrides);
}

describe('generations consumer', () => {
  it('runs a queued job once and acks the message', async () => {
    const job = await queuedJob({}, { count: 2 });
    const outcome = await runQueue(GENERATIONS, [{ job_id: job.id }]);
    expect(outcome.acked).toHaveLength(1);
    expect(outcome.retried).toEqual([]);
    const done = (await getJob(env.DB, job.id))!;
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1, cached: false, leaseUntil: null });
    expect(done.result!.images).toHaveLength(2);
    expect(backend.generateCalls(job.params.seed)).toHaveLength(1);
    // The backend call carried the resolved parameters and the job id for cancellation.
    expect(backend.generateCalls(job.params.seed)[0]!.body).toMatchObject({
      model: 'gigatok-nano',
      class_ids: [2, 2],
      cfg_scale: NANO.sampling_defaults.cfg_scale,
      return_images: true,
      request_id: job.id,
    });
  });

  it('does the work once when the same message is delivered twice in one batch and again later', async () => {
    const job = await queuedJob();
    const outcome = await runQueue(GENERATIONS, [{ job_id: job.id }, { job_id: job.id }]);
    expect(outcome.acked.length + outcome.retried.length).toBe(2);
    const redelivered = await runQueue(GENERATIONS, [{ job_id: job.id }], 2);
    expect(redelivered.acked).toHaveLength(1);
    expect(backend.generateCalls(job.params.seed)).toHaveLength(1);
    expect(await getJob(env.DB, job.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('leaves a job that another consumer holds under a live lease, and looks again after the lease', async () => {
    const job = await queuedJob();
    const held = (await claimJob(env.DB, job.id, 30_000))!;
    const outcome = await runQueue(GENERATIONS, [{ job_id: job.id }]);
    expect(outcome.retried).toHaveLength(1);
    expect(outcome.retried[0]!.delaySeconds).toBeGreaterThanOrEqual(29);
    expect(outcome.retried[0]!.delaySeconds).toBeLessThanOrEqual(31);
    expect(backend.generateCalls(job.params.seed)).toHaveLength(0);
    expect(await getJob(env.DB, job.id)).toMatchObject({ status: 'running', attempts: held.attempts });
  });

  it('reclaims a job whose consumer died (lease expired) as a new attempt', async () => {
    const job = await queuedJob();
    await claimJob(env.DB, job.id, 1, Date.now() - 10_000);
    const outcome = await runQueue(GENERATIONS, [{ job_id: job.id }], 2);
    expect(outcome.acked).toHaveLength(1);
    expect(await getJob(env.DB, job.id)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('hands the job back and retries with a growing delay while the backend is down, then completes', async () => {
    const job = await queuedJob();
    backend.generateModes.set(job.params.seed, 'down');
    const first = await runQueue(GENERATIONS, [{ job_id: job.id }], 1);
    expect(first.retried).toEqual([{ id: expect.any(String), delaySeconds: 15 }]);
    expect(await getJob(env.DB, job.id)).toMatchObject({ status: 'queued', attempts: 1, error: null });

    backend.generateModes.set(job.params.seed, 'loading'); // 503 while models load: also retried
    const third = await runQueue(GENERATIONS, [{ job_id: job.id }], 3);
    expect(third.retried[0]!.delaySeconds).toBe(60);
    expect(await getJob(env.DB, job.id)).toMatchObject({ status: 'queued', attempts: 2 });

    backend.generateModes.delete(job.params.seed);
    const fourth = await runQueue(GENERATIONS, [{ job_id: job.id }], 4);
    expect(fourth.acked).toHaveLength(1);
    expect(await getJob(env.DB, job.id)).toMatchObject({ status: 'succeeded', attempts: 3 });
  });

  it('retries a backend 500 and a timeout, not failing the job', async () => {
    const job = await queuedJob();
    backend.generateModes.set(job.params.seed, 'error500');
    expect((await runQueue(GENERATIONS, [{ job_id: job.id }])).retried).toHaveLength(1);
    expect((await getJob(env.DB, job.id))!.status).toBe('queued');
  });

  it('fails the job at once on an error no retry can fix (the backend refused the input)', async () => {
    const job = await queuedJob();
    backend.generateModes.set(job.params.seed, 'error400');
    const outcome = await runQueue(GENERATIONS, [{ job_id: job.id }]);
    expect(outcome.acked).toHaveLength(1);
    const failed = (await getJob(env.DB, job.id))!;
    expect(failed).toMatchObject({ status: 'failed', attempts: 1 });
    expect(failed.error).toMatchObject({ code: 'invalid_parameter', status: 400 });
  });

  it('caps the retry delay', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(retryDelaySeconds)).toEqual([15, 30, 60, 120, 240, 480, 480, 480]);
  });

  it('acks a message for a canceled or unknown job without calling the backend', async () => {
    const job = await queuedJob();
    await cancelJob(env.DB, alice.tenantId, job.id);
    const outcome = await runQueue(GENERATIONS, [{ job_id: job.id }, { job_id: `job_${'z'.repeat(32)}` }]);
    expect(outcome.acked).toHaveLength(2);
    expect(backend.generateCalls(job.params.seed)).toHaveLength(0);
  });

  it('never lets a stale attempt complete a job that was canceled or taken over', async () => {
    const job = await queuedJob();
    const first = (await claimJob(env.DB, job.id, 1, Date.now() - 5_000))!;
    const second = (await claimJob(env.DB, job.id, 60_000))!;
    expect(second.attempts).toBe(first.attempts + 1);
    expect(await completeJob(env.DB, job.id, first.attempts, { images: [] }, false)).toBeNull();
    await cancelJob(env.DB, alice.tenantId, job.id);
    expect(await completeJob(env.DB, job.id, second.attempts, { images: [] }, false)).toBeNull();
    expect((await getJob(env.DB, job.id))!.status).toBe('canceled');
  });
});

describe('generations dead-letter consumer', () => {
  it('marks a job failed after the last retry', async () => {
    const job = await queuedJob();
    const outcome = await runQueue(DEAD_LETTERS, [{ job_id: job.id }]);
    expect(outcome.acked).toHaveLength(1);
    const failed = (await getJob(env.DB, job.id))!;
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'backend_unavailable', status: 503 });
    expect(failed.completedAt).not.toBeNull();
  });

  it('leaves a job that finished meanwhile alone', async () => {
    const job = await queuedJob();
    await runQueue(GENERATIONS, [{ job_id: job.id }]);
    await runQueue(DEAD_LETTERS, [{ job_id: job.id }]);
    expect((await getJob(env.DB, job.id))!.status).toBe('succeeded');
  });
});

describe('cron sweep', () => {
  it('re-enqueues a job that stayed queued and unclaimed, and the real queue then runs it', async () => {
    const lost = await queuedJob({ createdAt: Date.now() - UNCLAIMED_AFTER_MS - 1000 });
    const recent = await queuedJob();
    await scheduled({} as ScheduledController, env);
    await waitFor(async () => (await getJob(env.DB, lost.id))?.status === 'succeeded');
    expect((await getJob(env.DB, recent.id))!.status).toBe('queued');
  });
});
