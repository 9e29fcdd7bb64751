// The real-scale tier (`npm run test:scale`, scripts/test-scale.sh): the same real stack as the end-to-end
// suites, started once on the model directory in GIGATOK_E2E_MODEL_DIR (GigaTok S-S + GPT-B, about 1 GB
// of ONNX, so loading and warm-up get a longer readiness bound), and the files in scale/.
import { defineConfig } from 'vitest/config';

process.env.GIGATOK_E2E_READY_TIMEOUT_MS ??= '600000';

export default defineConfig({
  test: {
    include: ['scale/**/*.test.ts'],
    globalSetup: ['./lib/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 900_000,
  },
});
