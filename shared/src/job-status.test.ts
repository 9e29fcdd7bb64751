import { describe, expect, it } from 'vitest';
import { GenerationSchema } from './api/public.ts';
import { isTerminalJobStatus, JOB_STATUSES, TERMINAL_JOB_STATUSES } from './job-status.ts';

describe('job statuses', () => {
  it('are the five lifecycle states, three of them terminal', () => {
    expect(JOB_STATUSES).toEqual(['queued', 'running', 'succeeded', 'failed', 'canceled']);
    expect([...TERMINAL_JOB_STATUSES].sort()).toEqual(['canceled', 'failed', 'succeeded']);
    expect(JOB_STATUSES.filter(isTerminalJobStatus)).toEqual(['succeeded', 'failed', 'canceled']);
  });

  it("are exactly what the Generation schema's status takes", () => {
    const status = GenerationSchema.shape.status;
    for (const value of JOB_STATUSES) expect(status.safeParse(value).success, value).toBe(true);
    for (const value of ['pending', 'done', 'cancelled', ''])
      expect(status.safeParse(value).success, value).toBe(false);
  });
});
