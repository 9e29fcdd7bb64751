// The cross-piece suites: one real stack (GPU backend on CPU + Worker under wrangler dev --local) is
// started once by the global setup and shared by every file; files run one after another.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['e2e/**/*.test.ts'],
    globalSetup: ['./lib/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 240_000,
  },
});
