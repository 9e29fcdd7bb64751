// The workspace's suites as two projects. `deploy`: offline checks of the fleet manifests, no stack.
// `e2e`: one real stack (GPU backend on CPU + Worker under wrangler dev --local) started once by the
// global setup and shared by every file; files run one after another.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'deploy',
          include: ['deploy/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['e2e/**/*.test.ts'],
          globalSetup: ['./lib/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
});
