// Puts a ServerTiming on every request (c.var.timing) and its Server-Timing header on every answer,
// errors and 404s included: it is the outermost middleware, and the error boundary answers inside it.
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../env.ts';
import { ServerTiming } from '../lib/http/server-timing.ts';

export const serverTiming = createMiddleware<AppEnv>(async (c, next) => {
  const timing = new ServerTiming();
  c.set('timing', timing);
  await next();
  const value = timing.header();
  try {
    c.res.headers.append('Server-Timing', value);
  } catch {
    // A response with immutable headers (one passed through from fetch or the cache): copy it.
    c.res = new Response(c.res.body, c.res);
    c.res.headers.append('Server-Timing', value);
  }
});
