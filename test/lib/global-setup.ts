// Starts the real stack once for all end-to-end files and hands its URLs to them (vitest `provide`).
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { repoRoot, type Stack, startStack } from '../../scripts/local-stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: {
      apiUrl: string;
      backendUrl: string;
      adminToken: string;
      backendSecret: string;
      /** Every line the backend and wrangler printed (the security suite greps it for secrets). */
      logFile: string;
      /** The local R2/D1/Queues state of the stack's wrangler. */
      stateDir: string;
    };
  }
}

/** WEBHOOK_SECRET_OVERLAP_SECONDS of the shared stack. */
export const E2E_WEBHOOK_SECRET_OVERLAP_SECONDS = 15;

let stack: Stack | undefined;
let stateDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  // GIGATOK_E2E_MODEL_DIR points the suite at another model directory (the scale tier's S-S + GPT-B);
  // GIGATOK_E2E_READY_TIMEOUT_MS gives a large model longer to load and warm up.
  const modelDir = process.env.GIGATOK_E2E_MODEL_DIR;
  const readyTimeoutMs = Number(process.env.GIGATOK_E2E_READY_TIMEOUT_MS ?? 120_000);
  // A fresh local R2/D1/Queues state per run, removed at teardown.
  stateDir = path.join(repoRoot, '.local', `e2e-${process.pid}`);
  // Kept after the run (test-output/ is ignored by git), for diagnosing a failure.
  const logFile = path.join(repoRoot, 'test-output', 'e2e-stack.log');
  mkdirSync(path.dirname(logFile), { recursive: true });
  rmSync(logFile, { force: true });
  stack = await startStack({
    stateDir,
    logFile,
    ...(modelDir ? { modelDirs: [path.resolve(repoRoot, modelDir)] } : {}),
    // A rotated-out webhook secret signs for 15 s here (24 h by default), so the end of the overlap
    // window is observed within the suite (e2e/webhook-deliveries.test.ts).
    workerVars: { WEBHOOK_SECRET_OVERLAP_SECONDS: String(E2E_WEBHOOK_SECRET_OVERLAP_SECONDS) },
    readyTimeoutMs,
    verbose: process.env.GIGATOK_E2E_VERBOSE === '1',
  });
  project.provide('stack', {
    apiUrl: stack.apiUrl,
    backendUrl: stack.backendUrl,
    adminToken: stack.adminToken,
    backendSecret: stack.backendSecret,
    logFile,
    stateDir,
  });
}

export async function teardown(): Promise<void> {
  await stack?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}
