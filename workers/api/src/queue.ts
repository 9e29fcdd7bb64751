// The queue handler: routes each batch to its consumer by queue name. Messages of a batch are handled
// concurrently and each is acked or retried on its own, so one slow job does not hold the others.
import { deadLetterDataset, runDatasetBatch } from './lib/datasets/run.ts';
import { deadLetterGeneration, runGeneration } from './lib/generations/consumer.ts';
import { deadLetterWebhook, deliverWebhook } from './lib/webhooks/delivery.ts';

export const QUEUES = {
  generations: 'gigatok-generations',
  generationsDead: 'gigatok-generations-dlq',
  webhooks: 'gigatok-webhooks',
  webhooksDead: 'gigatok-webhooks-dlq',
  datasets: 'gigatok-datasets',
  datasetsDead: 'gigatok-datasets-dlq',
} as const;

type Handler = (env: Env, message: Message<never>) => Promise<void>;

const consumers: Record<string, Handler> = {
  [QUEUES.generations]: runGeneration as Handler,
  [QUEUES.generationsDead]: deadLetterGeneration as Handler,
  [QUEUES.webhooks]: deliverWebhook as Handler,
  [QUEUES.webhooksDead]: deadLetterWebhook as Handler,
  [QUEUES.datasets]: runDatasetBatch as Handler,
  [QUEUES.datasetsDead]: deadLetterDataset as Handler,
};

export async function queue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const consumer = consumers[batch.queue];
  if (!consumer) {
    console.error(JSON.stringify({ message: 'batch from an unknown queue', queue: batch.queue }));
    batch.retryAll();
    return;
  }
  await Promise.all(
    batch.messages.map(async (message) => {
      try {
        await consumer(env, message as Message<never>);
      } catch (error) {
        // A consumer that throws (D1 or R2 unavailable) leaves the message to the queue's retries.
        console.error(
          JSON.stringify({
            message: 'queue consumer failed',
            queue: batch.queue,
            id: message.id,
            error: String(error),
          }),
        );
        message.retry({ delaySeconds: 10 });
      }
    }),
  );
}
