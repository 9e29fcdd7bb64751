import { describe, expect, it } from 'vitest';
import { newJobId } from '../ids.ts';
import { isTerminalJobStatus, type JobStatus } from '../job-status.ts';
import { JobEventSchema } from './job-events.ts';

const id = newJobId();

describe('JobEventSchema', () => {
  it('reads each non-final event by its type', () => {
    expect(
      JobEventSchema.parse({ type: 'queued', id, attempts: 0, created_at: '2026-01-02T03:04:05.000Z' }),
    ).toMatchObject({ type: 'queued' });
    expect(
      JobEventSchema.parse({
        type: 'running',
        id,
        attempt: 2,
        started_at: '2026-01-02T03:04:05.000Z',
        images: 4,
      }),
    ).toMatchObject({ type: 'running', attempt: 2 });
  });

  it('refuses a payload of another type, an unknown type, extra fields and a bad id', () => {
    const running = { type: 'running', id, attempt: 1, started_at: '2026-01-02T03:04:05.000Z', images: 1 };
    expect(JobEventSchema.safeParse({ ...running, type: 'queued' }).success).toBe(false);
    expect(JobEventSchema.safeParse({ ...running, type: 'progress' }).success).toBe(false);
    expect(JobEventSchema.safeParse({ ...running, extra: true }).success).toBe(false);
    expect(JobEventSchema.safeParse({ ...running, id: 'job_nope' }).success).toBe(false);
    expect(JobEventSchema.safeParse({ ...running, attempt: 0 }).success).toBe(false);
  });

  it('has a progress event with images done and the total', () => {
    const progress = { type: 'progress', id, images_done: 4, images_total: 16 };
    expect(JobEventSchema.parse(progress)).toEqual(progress);
    expect(JobEventSchema.safeParse({ ...progress, images_done: 0 }).success).toBe(false);
    expect(JobEventSchema.safeParse({ ...progress, images_total: 17 }).success).toBe(false);
  });

  it('has a final event for exactly the final statuses, each carrying the generation', () => {
    const isFinal = (type: string) => type !== 'progress' && isTerminalJobStatus(type as JobStatus);
    const finals = JobEventSchema.options
      .map((option) => option.shape.type.value)
      .filter((type) => isFinal(type));
    expect(finals.sort()).toEqual(['canceled', 'failed', 'succeeded']);
    for (const option of JobEventSchema.options) {
      expect('generation' in option.shape).toBe(isFinal(option.shape.type.value));
    }
  });
});
