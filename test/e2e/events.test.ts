// Job events end to end: GET /v1/generations/{id}/events from the Worker under wrangler dev while the
// real queue consumer runs the job on the real GPU backend (CPU, the default model); read raw and
// through the client's iterator, resumed with Last-Event-ID, and refused for another tenant.

import { GigaTokClient, parseEventStream, type SseMessage } from '@gigatok/client';
import { GenerationSchema, type JobEvent, JobEventSchema } from '@gigatok/shared';
import { beforeAll, describe, expect, it } from 'vitest';
import { api, newTenant, postJson, stack } from '../lib/api.ts';

let alice: { key: string; tenantId: string };
let bob: { key: string; tenantId: string };

beforeAll(async () => {
  alice = await newTenant('e2e-events-alice');
  bob = await newTenant('e2e-events-bob');
});

/** Every message of one connection, read until the server closes it, with when each arrived. */
async function readStream(response: Response): Promise<{ id: string; event: JobEvent; at: number }[]> {
  const out: { id: string; event: JobEvent; at: number }[] = [];
  for await (const message of parseEventStream(response.body!) as AsyncIterable<SseMessage>) {
    const event = JobEventSchema.parse(JSON.parse(message.data));
    expect(message.event).toBe(event.type);
    out.push({ id: message.lastEventId, event, at: Date.now() });
  }
  return out;
}

async function submit(seed: number): Promise<string> {
  const created = await postJson(alice.key, '/v1/generations', { class_id: [1, 2], seed });
  expect(created.status).toBe(202);
  return GenerationSchema.parse(await created.json()).id;
}

describe('GET /v1/generations/{id}/events on the real stack', () => {
  it('streams the job from queued or running to succeeded, in order, then ends', async () => {
    const id = await submit(8101);
    const response = await api(alice.key, `/v1/generations/${id}/events`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const events = await readStream(response);

    const types = events.map((e) => e.event.type);
    expect(['queued,running,succeeded', 'running,succeeded']).toContain(types.join(','));
    const ids = events.map((e) => Number(e.id));
    expect(ids).toEqual([...new Set(ids)].sort((a, b) => a - b));
    expect(events.find((e) => e.event.type === 'running')!.event).toMatchObject({ attempt: 1, images: 2 });
    const final = events.at(-1)!.event;
    const current = GenerationSchema.parse(await (await api(alice.key, `/v1/generations/${id}`)).json());
    expect(final).toEqual({ type: 'succeeded', id, generation: current });
    expect(current.result!.images).toHaveLength(2);
    // Streamed, not buffered until the end: the first event arrived before the job completed.
    expect(events[0]!.at).toBeLessThan(Date.parse(current.completed_at!));
  });

  it('resumes after Last-Event-ID: only later states, and nothing at all after the final one', async () => {
    const id = await submit(8102);
    const all = await readStream(await api(alice.key, `/v1/generations/${id}/events`));
    const running = all.find((e) => e.event.type === 'running')!;
    const final = all.at(-1)!;

    const resumed = await readStream(
      await api(alice.key, `/v1/generations/${id}/events`, { headers: { 'last-event-id': running.id } }),
    );
    expect(resumed.map((e) => [e.id, e.event.type])).toEqual([[final.id, 'succeeded']]);
    expect(resumed[0]!.event).toEqual(final.event);
    const done = await readStream(
      await api(alice.key, `/v1/generations/${id}/events`, { headers: { 'last-event-id': final.id } }),
    );
    expect(done).toEqual([]);
  });

  it("answers 404 problem+json for another tenant's job", async () => {
    const id = await submit(8103);
    const response = await api(bob.key, `/v1/generations/${id}/events`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ code: 'not_found' });
  });

  it('client.generations.events follows a job to its result', async () => {
    const client = new GigaTokClient({ baseUrl: stack().apiUrl, apiKey: alice.key });
    const job = await client.createGeneration({ class_id: 3, seed: 8104 }, { wait: 0 });
    const seen: string[] = [];
    let last: JobEvent | undefined;
    for await (const event of client.generations.events(job.id)) {
      seen.push(event.type);
      last = event;
    }
    expect(seen.at(-1)).toBe('succeeded');
    expect(seen.slice(0, -1).every((type) => type === 'queued' || type === 'running')).toBe(true);
    expect(last!.type === 'succeeded' && last!.generation.result!.images[0]!.class_id).toBe(3);
  });
});
