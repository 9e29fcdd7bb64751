import { defineConfig } from 'vitest/config';

// Node tests against the real onnxruntime (CPU) and sharp. Two forks at most: onnxruntime and libvips
// bring their own thread pools, and the suite must stay fast on two cores.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { GIGATOK_LOG_LEVEL: process.env.GIGATOK_LOG_LEVEL ?? 'silent' },
  },
});
