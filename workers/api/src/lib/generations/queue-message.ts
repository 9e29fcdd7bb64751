// The GENERATIONS queue's message: the job id and the first image of the chunk to run, since the job
// row in D1 holds everything else. The producer (a new job) and the cron sweep (a lost message)
// enqueue a job's first chunk; the consumer enqueues each next chunk (consumer.ts).

export interface GenerationMessage {
  job_id: string;
  /** The chunk's first image; absent for the first chunk. */
  from_image?: number;
}

export async function enqueueGenerations(queue: Queue, jobIds: readonly string[]): Promise<void> {
  const messages = jobIds.map((job_id) => ({
    body: { job_id } satisfies GenerationMessage,
    contentType: 'json' as const,
  }));
  await queue.sendBatch(messages);
}

/** Enqueues the chunk of job `jobId` that starts at image `fromImage`. */
export async function enqueueChunk(queue: Queue, jobId: string, fromImage: number): Promise<void> {
  await queue.send({ job_id: jobId, from_image: fromImage } satisfies GenerationMessage, {
    contentType: 'json',
  });
}
