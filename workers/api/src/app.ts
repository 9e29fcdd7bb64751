// The HTTP API: routes under /v1, Server-Timing on every answer, the one error boundary and the
// 404/405 answers. Assembly only; every route lives in routes/<resource>.ts.
import { Hono } from 'hono';
import type { AppEnv } from './env.ts';
import { renderError, renderNotFound } from './lib/http/error-boundary.ts';
import { requireApiKey } from './middleware/auth.ts';
import { rateLimit } from './middleware/rate-limit.ts';
import { serverTiming } from './middleware/server-timing.ts';
import { admin } from './routes/admin.ts';
import { datasets } from './routes/datasets.ts';
import { detokenize } from './routes/detokenize.ts';
import { embeddings } from './routes/embeddings.ts';
import { generations } from './routes/generations.ts';
import { health } from './routes/health.ts';
import { images } from './routes/images.ts';
import { models } from './routes/models.ts';
import { openapi } from './routes/openapi.ts';
import { tokenize } from './routes/tokenize.ts';
import { tokens } from './routes/tokens.ts';
import { variations } from './routes/variations.ts';
import { webhooks } from './routes/webhooks.ts';

export const app = new Hono<AppEnv>();

// Outermost: every answer, errors and 404s included, carries Server-Timing.
app.use(serverTiming);

// No API key: liveness, the API description (built from this app's own routes), and the admin routes
// (their own token; they answer 404 unless the ADMIN_TOKEN secret is set).
app.route('/v1/healthz', health);
app.route(
  '/v1/openapi.json',
  openapi(() => app.routes),
);
app.route('/v1/admin', admin);

// Everything else needs an API key and counts against its rate limit.
const api = new Hono<AppEnv>().use(requireApiKey, rateLimit);
api.route('/tokenize', tokenize);
api.route('/tokens', tokens);
api.route('/detokenize', detokenize);
api.route('/generations', generations);
api.route('/datasets', datasets);
api.route('/variations', variations);
api.route('/embeddings', embeddings);
api.route('/images', images);
api.route('/models', models);
api.route('/webhooks', webhooks);
app.route('/v1', api);

app.onError(renderError);
app.notFound((c) => renderNotFound(app as never, c));
