// Two test projects. "workers": inside workerd (@cloudflare/vitest-pool-workers) with the bindings of
// the root wrangler.toml (local R2, D1, Queues, rate limiter); D1 migrations are applied by
// test/setup.ts. "node": pure checks that need Node-only tools (the OpenAPI validator).
import { fileURLToPath } from 'node:url';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest(async () => ({
            wrangler: { configPath: here('../../wrangler.toml') },
            miniflare: {
              // A low per-key limit so the rate-limit test needs few requests (wrangler.toml: 600 a minute).
              ratelimits: { RATE_LIMITER: { simple: { limit: 50, period: 60 } } },
              // The consumers of wrangler.toml, delivering at once instead of after a 1 s batch window.
              queueConsumers: {
                'gigatok-generations': {
                  maxBatchSize: 4,
                  maxBatchTimeout: 0,
                  maxRetries: 6,
                  deadLetterQueue: 'gigatok-generations-dlq',
                },
                'gigatok-generations-dlq': { maxBatchTimeout: 0 },
                'gigatok-webhooks': {
                  maxBatchSize: 10,
                  maxBatchTimeout: 0,
                  maxRetries: 8,
                  deadLetterQueue: 'gigatok-webhooks-dlq',
                },
                'gigatok-webhooks-dlq': { maxBatchTimeout: 0 },
                'gigatok-datasets': {
                  maxBatchSize: 4,
                  maxBatchTimeout: 0,
                  maxRetries: 3,
                  deadLetterQueue: 'gigatok-datasets-dlq',
                },
                'gigatok-datasets-dlq': { maxBatchTimeout: 0 },
              },
              bindings: {
                BACKEND_SECRET: 'test-backend-secret',
                ADMIN_TOKEN: 'test-admin-token',
                // Short deadlines so timeout paths run in milliseconds, not the production 30 s.
                BACKEND_TIMEOUT_MS: '500',
                GENERATE_TIMEOUT_MS: '2000',
                // A checked API key is trusted for 1 s here (30 s in wrangler.toml), so the revocation
                // bound is tested in about a second.
                AUTH_CACHE_TTL_SECONDS: '1',
                TEST_MIGRATIONS: await readD1Migrations(here('./migrations')),
              },
            },
          })),
        ],
        test: {
          name: 'workers',
          include: ['test/**/*.test.ts'],
          exclude: ['**/*.node.test.ts'],
          setupFiles: ['./test/setup.ts'],
        },
      },
      {
        // Pure modules (no bindings) are tested here too: no workerd start-up per file.
        test: { name: 'node', include: ['test/**/*.node.test.ts', 'src/**/*.test.ts'], environment: 'node' },
      },
    ],
  },
});
