// Server lifecycle on loopback: cancellation, the bounded queue (429 + Retry-After), graceful
// shutdown, readiness when a model fails to load.
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QUEUE_DEPTH_HEADER } from '@gigatok/shared';
import { describe, expect, it } from 'vitest';
import { startServer } from '../src/server.ts';
import { expectProblem, FIXTURE_DIR, postJson, SECRET, signedFetch, testConfig } from './helpers.ts';

const generateBody = (over: Record<string, unknown> = {}) => ({
  model: 'tiny-random',
  seed: 3,
  class_ids: [0],
  cfg_scale: 2,
  cfg_schedule: 'step',
  temperature: 1,
  top_k: 0,
  top_p: 1,
  ...over,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a server whose batches wait (long queue delay)', () => {
  it('cancels a queued generate by request_id, and refuses work beyond the queue with 429 + Retry-After', async () => {
    const server = await startServer(testConfig({ maxBatch: 256, maxQueue: 64, maxQueueDelayMs: 1_500 }));
    try {
      await server.loaded;
      const first = postJson(
        server.url,
        '/v1/generate',
        generateBody({ class_ids: Array(40).fill(1), request_id: 'job-1' }),
      );
      await sleep(150);
      const full = await postJson(server.url, '/v1/generate', generateBody({ class_ids: Array(30).fill(2) }));
      expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // The refusal reports the load the Worker weighs when it picks among a pool: the 40 waiting images.
      expect(full.headers.get(QUEUE_DEPTH_HEADER)).toBe('40');
      await expectProblem(full, 429, 'queue_full');

      const dup = await postJson(server.url, '/v1/generate', generateBody({ request_id: 'job-1' }));
      await expectProblem(dup, 409, 'conflict');

      const cancel = await signedFetch(server.url, '/v1/generate/job-1/cancel', { method: 'POST' });
      expect(cancel.status).toBe(200);
      expect(await cancel.json()).toEqual({ request_id: 'job-1', status: 'canceled' });
      const canceled = await expectProblem(await first, 409, 'conflict');
      expect(canceled.detail).toContain('canceled');
      // The queue is free again.
      const after = await postJson(
        server.url,
        '/v1/generate',
        generateBody({ class_ids: Array(30).fill(2) }),
      );
      expect(after.status).toBe(200);
      // Every answer reports the depth, unauthenticated probes included: nothing is queued now.
      expect((await fetch(`${server.url}/healthz`)).headers.get(QUEUE_DEPTH_HEADER)).toBe('0');
    } finally {
      await server.close();
    }
  });

  it('finishes in-flight requests on shutdown and then stops accepting connections', async () => {
    const server = await startServer(testConfig({ maxBatch: 64, maxQueueDelayMs: 600 }));
    await server.loaded;
    const inFlight = postJson(server.url, '/v1/generate', generateBody({ class_ids: [0, 1] }));
    await sleep(100);
    const closed = server.close();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { tokens: number[][] }).tokens).toHaveLength(2);
    await closed;
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});

describe('timeouts and disconnects', () => {
  it('answers 504 backend_timeout when a request outlives the request timeout, and drops its work', async () => {
    const server = await startServer(
      testConfig({ maxBatch: 64, maxQueueDelayMs: 3_000, requestTimeoutMs: 300, ortWorker: false }),
    );
    try {
      await server.loaded;
      const res = await postJson(server.url, '/v1/generate', generateBody({ class_ids: [0, 1, 2] }));
      await expectProblem(res, 504, 'backend_timeout');
      expect(server.state.models.get('tiny-random')!.pending().generate).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('drops the queued images of a client that disconnects', async () => {
    const server = await startServer(testConfig({ maxBatch: 64, maxQueueDelayMs: 3_000, ortWorker: false }));
    try {
      await server.loaded;
      const service = server.state.models.get('tiny-random')!;
      const queued = () => service.pending().generate;
      const client = new AbortController();
      const body = JSON.stringify(generateBody({ class_ids: [0, 1, 2, 3] }));
      const { signBackendRequest } = await import('@gigatok/shared');
      const headers = await signBackendRequest({
        secret: SECRET,
        method: 'POST',
        path: '/v1/generate',
        body,
      });
      const pending = fetch(`${server.url}/v1/generate`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body,
        signal: client.signal,
      }).catch(() => undefined);
      for (let i = 0; i < 40 && queued() === 0; i++) await sleep(10);
      expect(queued()).toBe(4);
      client.abort();
      await pending;
      for (let i = 0; i < 40 && queued() > 0; i++) await sleep(10);
      expect(queued()).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe('readiness', () => {
  it('is loading at start, and stays 503 when a model file does not match its manifest', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gigatok-bad-'));
    try {
      await cp(FIXTURE_DIR, dir, { recursive: true });
      await writeFile(path.join(dir, 'decoder.onnx'), 'not the decoder');
      const server = await startServer(testConfig({ modelDirs: [dir], ortWorker: false }));
      expect(server.state.status).toBe('loading');
      await expect(server.loaded).rejects.toThrow(/decoder\.onnx: \d+ bytes, manifest says/);
      const res = await fetch(`${server.url}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'loading', models: [] });
      expect(server.state.status).toBe('failed');
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      await server.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
