// Starts the real stack once for all end-to-end files and hands its URLs to them (vitest `provide`).
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { repoRoot, type Stack, startStack } from '../../scripts/local-stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: { apiUrl: string; backendUrl: string; adminToken: string; backendSecret: string };
  }
}

let stack: Stack | undefined;

export async function setup(project: TestProject): Promise<void> {
  // GIGATOK_E2E_MODEL_DIR lets a developer point the suite at another model directory.
  const modelDir = process.env.GIGATOK_E2E_MODEL_DIR;
  stack = await startStack({
    stateDir: path.join(repoRoot, '.local', `e2e-${process.pid}`),
    ...(modelDir ? { modelDirs: [path.resolve(repoRoot, modelDir)] } : {}),
    verbose: process.env.GIGATOK_E2E_VERBOSE === '1',
  });
  project.provide('stack', {
    apiUrl: stack.apiUrl,
    backendUrl: stack.backendUrl,
    adminToken: stack.adminToken,
    backendSecret: stack.backendSecret,
  });
}

export async function teardown(): Promise<void> {
  await stack?.stop();
}
