// Long generation jobs through the whole stack: a count-16 job as one backend call against the same job
// in chunks of 4 and of 2 (GENERATION_CHUNK_IMAGES = GENERATION_MAX_CHUNK_IMAGES = the chunk), each on a
// fresh stack (backend + wrangler dev --local). The wall time runs from the POST to the first poll (every
// 50 ms) that reads `succeeded`; the backend's HTTP counter gives the calls each job cost.
// Run: node --import tsx bench/long-runs.ts [--runs 3] [--model-dir DIR]
import { rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GenerationSchema } from '@gigatok/shared';
import { repoRoot, startStack } from '../scripts/local-stack.ts';
import { median } from './stats.ts';

const COUNT = 16;
const CHUNKS = [16, 4, 2];

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, 'model-dir': { type: 'string' } },
});
const runs = Number(values.runs);
const modelDirs = values['model-dir'] ? [path.resolve(values['model-dir'])] : undefined;

async function generateCalls(backendUrl: string): Promise<number> {
  const text = await (await fetch(`${backendUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^gigatok_http_requests_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (m && /route="\/v1\/generate\/?"/.test(m[1]!) && m[1]!.includes('status="200"')) sum += Number(m[2]);
  }
  return sum;
}

async function timeJob(apiUrl: string, key: string, body: unknown): Promise<number> {
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const started = performance.now();
  const res = await fetch(`${apiUrl}/v1/generations`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
  if (res.status !== 202) throw new Error(`POST /v1/generations: ${res.status} ${await res.text()}`);
  const { id } = GenerationSchema.parse(await res.json());
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const job = GenerationSchema.parse(
      await (await fetch(`${apiUrl}/v1/generations/${id}`, { headers })).json(),
    );
    if (job.status === 'succeeded') return performance.now() - started;
    if (job.status !== 'queued' && job.status !== 'running') throw new Error(`job ${id} ended ${job.status}`);
  }
}

const rows: { chunk: number; calls: number; ms: number[] }[] = [];
let seed = 1_600_000;
for (const chunk of CHUNKS) {
  const stateDir = path.join(repoRoot, '.local', `bench-long-runs-${process.pid}-${chunk}`);
  const stack = await startStack({
    stateDir,
    ...(modelDirs ? { modelDirs } : {}),
    backendEnv: { GIGATOK_LOG_LEVEL: 'warn' },
    workerVars: { GENERATION_CHUNK_IMAGES: String(chunk), GENERATION_MAX_CHUNK_IMAGES: String(chunk) },
  });
  try {
    const { key } = await stack.createKey('bench-long-runs');
    await timeJob(stack.apiUrl, key, { class_id: 1, seed: seed++ }); // warm-up: one image
    const before = await generateCalls(stack.backendUrl);
    const ms: number[] = [];
    for (let i = 0; i < runs; i++)
      ms.push(await timeJob(stack.apiUrl, key, { class_id: 1, count: COUNT, seed: seed++ }));
    const calls = ((await generateCalls(stack.backendUrl)) - before) / runs;
    rows.push({ chunk, calls, ms });
    console.log(`chunk ${chunk}: ${calls} calls a job, ${ms.map((m) => m.toFixed(0)).join(', ')} ms`);
  } finally {
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const base = median(rows[0]!.ms);
console.log(`\n| images per call | backend calls | median job time (${runs} runs) | vs one call |`);
console.log('|---|---|---|---|');
for (const row of rows) {
  const m = median(row.ms);
  console.log(`| ${row.chunk} | ${row.calls} | ${(m / 1000).toFixed(2)} s | ${(m / base).toFixed(2)}x |`);
}
