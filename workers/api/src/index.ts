// Worker entry point: the HTTP API (app.ts), the queue consumers and the cron sweep of lost jobs.
import { app } from './app.ts';
import { queue } from './queue.ts';
import { scheduled } from './scheduled.ts';

export default {
  fetch: app.fetch,
  queue,
  scheduled,
} satisfies ExportedHandler<Env>;
