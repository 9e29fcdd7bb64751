// The GENERATIONS queue consumer and its dead-letter consumer. A job runs as one or more chunks (backend
// calls sized to fit the generate deadline, chunk-size.ts), one queue message per chunk: the consumer
// runs the chunk its message names, records it in D1 (progress) and enqueues the next one, so a crash
// costs at most one chunk, no invocation runs near the consumer's wall-clock limit, and a cancel takes
// effect before the next chunk (its claim finds the job canceled). Queues deliver at least once, so a
// message may arrive twice or after its job was canceled; the job row in D1 is the source of truth:
//  - a claim (queued -> running, attempts + 1) succeeds for one consumer only; a duplicate that finds
//    the job running under a live lease comes back after the lease instead of being dropped, so a
//    consumer that died mid-job never loses it;
//  - a chunk is claimed only while the job's finished images equal the chunk's first image, so a
//    redelivered chunk message finds its chunk done and runs nothing;
//  - results are content-addressed R2 writes (a retry rewrites nothing) and both the chunk record and
//    the completing UPDATE are fenced by the attempt number, so a job is completed, and its webhook
//    sent, once;
//  - a backend that is down hands the job back (running -> queued) and retries the message with a
//    growing delay; after the queue's max_retries the dead-letter consumer marks the job failed.
import { ApiError, ErrorCode, isTerminalJobStatus, problem } from '@gigatok/shared';
import { BackendError } from '../backend/host-request.ts';
import { secondsPerImage } from '../backend/models.ts';
import { config } from '../config.ts';
import { emitEvent } from '../webhooks/delivery.ts';
import { chunkImages, chunkRange } from './chunk-size.ts';
import { claimJob, completeJob, failJob, getJob, type Job, recordChunk, releaseJob } from './jobs.ts';
import { enqueueChunk, type GenerationMessage } from './queue-message.ts';
import { produceChunk } from './work.ts';

/** Delay before retry n (1-based): 15 s doubling to 8 min; with max_retries = 6 about 16 minutes in all. */
export function retryDelaySeconds(attempt: number): number {
  return Math.min(15 * 2 ** Math.max(attempt - 1, 0), 480);
}

/** Queues refuse delays over 12 hours. */
const MAX_DELAY_SECONDS = 43_200;

/** The images of the job's next chunk, sized from the backend's measured speed for its model. */
async function nextChunk(env: Env, job: Job): Promise<{ from: number; to: number }> {
  const cfg = config(env);
  const size = chunkImages({
    secondsPerImage: await secondsPerImage(env, job.model),
    generateTimeoutMs: cfg.generateTimeoutMs,
    fallback: cfg.generationChunkImages,
    max: cfg.generationMaxChunkImages,
  });
  return chunkRange(job.imagesDone, job.params.class_ids.length, size);
}

export async function runGeneration(env: Env, message: Message<GenerationMessage>): Promise<void> {
  const jobId = message.body.job_id;
  const fromImage = message.body.from_image ?? 0;
  const cfg = config(env);
  // The lease outlives the longest backend call, so only a dead consumer's lease ever expires.
  const leaseMs = cfg.generateTimeoutMs + 60_000;
  const job = await claimJob(env.DB, jobId, leaseMs, Date.now(), fromImage);
  if (!job) {
    const current = await getJob(env.DB, jobId);
    if (!current || isTerminalJobStatus(current.status) || current.imagesDone < fromImage) {
      message.ack(); // finished, canceled or unknown: a duplicate or stale message
      return;
    }
    if (current.imagesDone > fromImage) {
      // This chunk is done: a redelivery. If its consumer died between recording the chunk and
      // enqueueing the next one, nobody holds the job: enqueue the next chunk (a duplicate of one
      // already sent is harmless, its claim fails).
      if (current.status === 'running' && current.leaseUntil === null) {
        await enqueueChunk(env.GENERATIONS, jobId, current.imagesDone);
      }
      message.ack();
      return;
    }
    // Another consumer holds it: look again when its lease ends.
    const wait = Math.ceil(((current.leaseUntil ?? Date.now()) - Date.now()) / 1000) + 1;
    message.retry({ delaySeconds: Math.min(Math.max(wait, 1), MAX_DELAY_SECONDS) });
    return;
  }
  if (job.attempts === 1 && fromImage === 0) await emitEvent(env, job, 'generation.started');

  let outcome: Awaited<ReturnType<typeof produceChunk>>;
  try {
    outcome = await produceChunk(env, job, await nextChunk(env, job));
  } catch (error) {
    const retryable = error instanceof BackendError ? error.retryable : !(error instanceof ApiError);
    if (!retryable) {
      const failed = await failJob(env.DB, job.id, (error as ApiError).toProblem(), job.attempts);
      if (failed) await emitEvent(env, failed, 'generation.failed');
      message.ack();
      return;
    }
    if (!(error instanceof ApiError)) {
      console.error(
        JSON.stringify({
          message: 'generation attempt failed',
          job: job.id,
          attempt: job.attempts,
          from_image: fromImage,
          error: String(error),
        }),
      );
    }
    // Hand the job back; if it was canceled meanwhile there is nothing left to retry.
    if (await releaseJob(env.DB, job.id, job.attempts)) {
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    } else {
      message.ack();
    }
    return;
  }
  if (!outcome.done) {
    // Recorded, then the next chunk enqueued, then this message acked: a crash in between leaves this
    // message to be redelivered, and its redelivery enqueues the next chunk (above).
    const recorded = await recordChunk(env.DB, job.id, job.attempts, fromImage, outcome.tokenIds);
    if (recorded) await enqueueChunk(env.GENERATIONS, job.id, recorded.imagesDone);
    message.ack();
    return;
  }
  const done = await completeJob(env.DB, job.id, job.attempts, outcome.result, outcome.cached);
  if (done) await emitEvent(env, done, 'generation.completed');
  message.ack();
}

/** After the last retry: the job is failed (unless it finished meanwhile) and its webhook sent. */
export async function deadLetterGeneration(env: Env, message: Message<GenerationMessage>): Promise<void> {
  const failed = await failJob(
    env.DB,
    message.body.job_id,
    problem(
      ErrorCode.backend_unavailable,
      'the generation could not be completed: the backend stayed unavailable',
    ),
  );
  if (failed) await emitEvent(env, failed, 'generation.failed');
  message.ack();
}
