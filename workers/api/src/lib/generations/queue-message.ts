// The GENERATIONS queue's message: only the job id, since the job row in D1 holds everything else.
// Both the producer (a new job) and the cron sweep (a lost message) enqueue through here.

export interface GenerationMessage {
  job_id: string;
}

export async function enqueueGenerations(queue: Queue, jobIds: readonly string[]): Promise<void> {
  const messages = jobIds.map((job_id) => ({
    body: { job_id } satisfies GenerationMessage,
    contentType: 'json' as const,
  }));
  await queue.sendBatch(messages);
}
