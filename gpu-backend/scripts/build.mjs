#!/usr/bin/env node
// `npm run build -w gpu-backend`: the production build, plain JavaScript in dist/ that `node` runs with
// no TypeScript loader. esbuild bundles three entry points, the server (src/main.ts -> dist/main.js),
// the ORT worker thread (src/runtime/worker-thread.ts -> dist/worker-thread.js, which worker-host.ts
// finds next to the bundle) and the resampling thread (src/images/resample-thread.ts ->
// dist/resample-thread.js, found the same way by resample-pool.ts). @gigatok/shared is TypeScript
// source (its package exports src/index.ts), so it is bundled in; every other package stays an import
// resolved from node_modules at run time (onnxruntime-node and sharp are native). Type checking is `npm run typecheck`; esbuild
// only strips types. Plain JavaScript so it runs without tsx.
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const packageJson = (dir) => JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
const own = packageJson(root);
const shared = packageJson(path.join(root, '..', 'shared'));
const external = [...Object.keys(own.dependencies), ...Object.keys(shared.dependencies)].filter(
  (name) => name !== shared.name,
);

const outdir = path.join(root, 'dist');
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: {
    main: 'src/main.ts',
    'worker-thread': 'src/runtime/worker-thread.ts',
    'resample-thread': 'src/images/resample-thread.ts',
  },
  outdir,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Both entries import the logger and the tensor types; without splitting each gets its own copy,
  // which is what a worker thread (its own module graph) needs anyway.
  splitting: false,
  external: [...external, ...external.map((name) => `${name}/*`)],
  sourcemap: true,
  logLevel: 'warning',
});
process.stdout.write(
  `built ${path.relative(process.cwd(), outdir) || outdir}/main.js, worker-thread.js and resample-thread.js\n`,
);
