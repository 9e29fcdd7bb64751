// Client tests: plain Node against a fake API on loopback (test/fake-api.ts); the CLI tests spawn
// `node bin/gigatok.mjs` as a child process. Two workers at most: the machine has two cores.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Generous: CLI runs start a TypeScript toolchain each, and the machine is shared.
    testTimeout: 120_000,
    // CLI runs are child processes compiling TypeScript on start: two at a time is what two cores take.
    maxConcurrency: 2,
  },
});
