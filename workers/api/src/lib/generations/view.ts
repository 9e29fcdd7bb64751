// The public Generation object (a job as GET /v1/generations/{id}, list entries and webhook payloads
// show it): ISO timestamps, snake_case, the result with its URLs.
import type { Generation } from '@gigatok/shared';
import type { Job } from './jobs.ts';

export type GenerationResult = NonNullable<Generation['result']>;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function generationView(job: Job): Generation {
  return {
    id: job.id,
    object: 'generation',
    status: job.status,
    model: job.model,
    params: job.params,
    params_key: job.paramsKey,
    created_at: new Date(job.createdAt).toISOString(),
    started_at: iso(job.startedAt),
    completed_at: iso(job.completedAt),
    cached: job.cached,
    attempts: job.attempts,
    progress: { images_done: job.imagesDone, images_total: job.params.class_ids.length },
    error: job.error,
    result: job.result,
  };
}
