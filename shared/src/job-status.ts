// The lifecycle of a generation job, as the Worker stores it in D1 and as the API's Generation object
// shows it: queued -> running -> succeeded | failed, and canceled from queued or running.

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** The statuses a job never leaves: no further work, webhook or cancel changes it. */
export const TERMINAL_JOB_STATUSES: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'canceled']);

export function isTerminalJobStatus(status: JobStatus): boolean {
  return TERMINAL_JOB_STATUSES.has(status);
}
