#!/usr/bin/env node
// `npm start`: installs the workspace on a fresh clone if needed, then runs the local stack
// (scripts/local-stack.ts) through tsx. Plain JavaScript so it runs before anything is installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const needed = ['node_modules/.bin/tsx', 'node_modules/.bin/wrangler', 'node_modules/onnxruntime-node'];

if (!needed.every((p) => existsSync(path.join(root, p)))) {
  console.error('[start] installing dependencies (npm ci) ...');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: 'inherit',
    // The CUDA provider download is a GPU-host concern; the CPU runtime ships in the package.
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: process.env.ONNXRUNTIME_NODE_INSTALL ?? 'skip' },
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('./local-stack.ts');
await main(process.argv.slice(2));
