// The cron handler (wrangler.toml [triggers]): re-enqueues jobs that sat queued and unclaimed for ten
// minutes, the next chunk of jobs that sat between two chunks as long, webhook deliveries whose next
// attempt is as long overdue, and the message of dataset runs queued or running that have not
// progressed as long, so work whose queue message was lost still runs. A duplicate job message is
// harmless: the consumer's conditional claim lets one run it. A dataset run's re-sent message goes
// under a new chain value, so the original, should it still arrive, does nothing (lib/datasets/run.ts).
import { resendStalledRuns } from './lib/datasets/run.ts';
import { stalledChunks, unclaimedJobs } from './lib/generations/jobs.ts';
import { enqueueChunk, enqueueGenerations } from './lib/generations/queue-message.ts';
import { enqueueOverdueDeliveries } from './lib/webhooks/delivery.ts';

export const UNCLAIMED_AFTER_MS = 10 * 60_000;
const SWEEP_LIMIT = 100;

export async function scheduled(_controller: ScheduledController, env: Env): Promise<void> {
  const ids = await unclaimedJobs(env.DB, UNCLAIMED_AFTER_MS, SWEEP_LIMIT);
  if (ids.length > 0) {
    console.warn(JSON.stringify({ message: 're-enqueuing unclaimed jobs', count: ids.length }));
    await enqueueGenerations(env.GENERATIONS, ids);
  }
  const stalled = await stalledChunks(env.DB, UNCLAIMED_AFTER_MS, SWEEP_LIMIT);
  if (stalled.length > 0) {
    console.warn(JSON.stringify({ message: 're-enqueuing stalled chunks', count: stalled.length }));
    for (const job of stalled) await enqueueChunk(env.GENERATIONS, job.id, job.imagesDone);
  }
  const deliveries = await enqueueOverdueDeliveries(env, UNCLAIMED_AFTER_MS, SWEEP_LIMIT);
  if (deliveries > 0) {
    console.warn(JSON.stringify({ message: 're-enqueuing overdue webhook deliveries', count: deliveries }));
  }
  const runs = await resendStalledRuns(env, UNCLAIMED_AFTER_MS, SWEEP_LIMIT);
  if (runs > 0) {
    console.warn(JSON.stringify({ message: 're-sending stalled dataset runs', count: runs }));
  }
}
