// Unit tests of the shared contract: plain Node, no workerd needed (everything here uses Web APIs only).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
