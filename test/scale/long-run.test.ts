// A long generation at the paper's smallest scale: count 16 of GPT-B (guided, 256 tokens each) through the
// Worker on this CPU, with the chunk size the Worker derives from the backend's measured seconds per
// image (no override). One backend call of 16 guided GPT-B images would outlast the Worker's generate
// deadline here; the job runs as several calls, reports each finished chunk on its event stream, and
// ends with 16 images. Its wall time, calls and progress go to test-output/scale-long-run.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GigaTokClient, type JobStreamEvent } from '@gigatok/client';
import { GenerationSchema } from '@gigatok/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-stack.ts';
import { api, backendCounter, newTenant, stack } from '../lib/api.ts';

const RESULT_FILE = path.join(repoRoot, 'test-output', 'scale-long-run.json');
const COUNT = 16;

let tenant: { key: string };

/** Generate calls the backend answered with 200 so far. */
function generateCalls(): Promise<number> {
  return backendCounter('gigatok_http_requests_total', { route: '/v1/generate', status: '200' });
}

beforeAll(async () => {
  tenant = await newTenant('scale-long-run');
});

describe('a count-16 GPT-B generation on the CPU', () => {
  it('completes through the Worker in chunks, with progress on its event stream', async () => {
    const callsBefore = await generateCalls();
    const client = new GigaTokClient({ baseUrl: stack().apiUrl, apiKey: tenant.key });
    const started = performance.now();
    const submitted = await client.createGeneration({ class_id: 207, count: COUNT, seed: 16_016 });
    const events: (JobStreamEvent & { at_ms: number })[] = [];
    for await (const event of client.generations.events(submitted.id)) {
      events.push({ ...event, at_ms: Math.round(performance.now() - started) });
    }
    const wallMs = Math.round(performance.now() - started);
    const job = GenerationSchema.parse(
      await (await api(tenant.key, `/v1/generations/${submitted.id}`)).json(),
    );
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.result?.images).toHaveLength(COUNT);
    expect(job.progress).toEqual({ images_done: COUNT, images_total: COUNT });

    const calls = (await generateCalls()) - callsBefore;
    const progress = events.flatMap((e) => (e.type === 'progress' ? [e.images_done] : []));
    // More than one backend call, each chunk's end reported in order (the last one by the result).
    expect(calls).toBeGreaterThan(1);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(events.at(-1)?.type).toBe('succeeded');

    const figures = {
      model: job.model,
      count: COUNT,
      backend_calls: calls,
      wall_ms: wallMs,
      seconds_per_image: Number((wallMs / 1000 / COUNT).toFixed(2)),
      events: events.map((e) => ({
        type: e.type,
        at_ms: e.at_ms,
        ...(e.type === 'progress' ? { images_done: e.images_done } : {}),
      })),
    };
    console.log(`scale long run: ${JSON.stringify(figures)}`);
    mkdirSync(path.dirname(RESULT_FILE), { recursive: true });
    writeFileSync(RESULT_FILE, `${JSON.stringify(figures, null, 2)}\n`);
  }, 900_000);
});
