// Vitest inside workerd (@cloudflare/vitest-pool-workers): the Worker runs with the bindings of the root
// wrangler.toml (local R2, D1, Queues, rate limiter); D1 migrations are applied by test/setup.ts.
import { fileURLToPath } from 'node:url';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [
    cloudflareTest(async () => ({
      wrangler: { configPath: fileURLToPath(new URL('../../wrangler.toml', import.meta.url)) },
      miniflare: {
        // A low per-key limit so the rate-limit test needs few requests (wrangler.toml: 600 a minute).
        ratelimits: { RATE_LIMITER: { simple: { limit: 50, period: 60 } } },
        bindings: {
          BACKEND_SECRET: 'test-backend-secret',
          ADMIN_TOKEN: 'test-admin-token',
          // Short deadlines so timeout paths run in milliseconds, not the production 30 s.
          BACKEND_TIMEOUT_MS: '500',
          GENERATE_TIMEOUT_MS: '2000',
          TEST_MIGRATIONS: await readD1Migrations(fileURLToPath(new URL('./migrations', import.meta.url))),
        },
      },
    })),
  ],
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    setupFiles: ['./test/setup.ts'],
  },
});
