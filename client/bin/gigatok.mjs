#!/usr/bin/env node
// Launcher for the `gigatok` CLI: Node 20 cannot run TypeScript itself, so register tsx's ESM
// loader first, then load src/cli.ts and hand it the process's streams, env and Ctrl-C.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');

const controller = new AbortController();
// First Ctrl-C: abort (generate cancels its job and exits 130); a second one exits at once.
process.once('SIGINT', () => {
  controller.abort(new Error('interrupted'));
  process.once('SIGINT', () => process.exit(130));
});

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
});
