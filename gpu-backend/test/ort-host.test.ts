// Sessions hosted in a worker thread (runtime/worker-host.ts) behave like in-process ones: same outputs,
// same errors, buffers transferred without touching views the caller shares.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Graph } from '../src/runtime/graph.ts';
import { float32, GraphRunError, int64, outputFloat32 } from '../src/runtime/tensors.ts';
import { OrtHost, workerEntry } from '../src/runtime/worker-host.ts';
import { transferList } from '../src/runtime/worker-protocol.ts';
import { FIXTURE_DIR } from './helpers.ts';

const config = { device: 'cpu' as const, cudaDeviceId: 0, intraOpThreads: 1, interOpThreads: 1 };
const decoderFile = path.join(FIXTURE_DIR, 'decoder.onnx');

describe('OrtHost', () => {
  let host: OrtHost;
  beforeAll(() => {
    host = new OrtHost('test', 'silent');
  });
  afterAll(async () => {
    await host.close();
  });

  it('gives the same outputs as an in-process session', async () => {
    const local = await Graph.load(decoderFile, 'tiny/decoder', config);
    const remote = await Graph.load(decoderFile, 'tiny/decoder', config, host);
    expect(remote.inputNames).toEqual(local.inputNames);
    expect(remote.providers).toBe('cpu');
    const tokens = () =>
      int64(
        BigInt64Array.from({ length: 16 }, (_, i) => BigInt((i * 7) % 64)),
        [2, 8],
      );
    const a = outputFloat32(await local.run({ tokens: tokens() }), 'image', 'local').data;
    const b = outputFloat32(await remote.run({ tokens: tokens() }), 'image', 'remote').data;
    expect(Array.from(b)).toEqual(Array.from(a));
    await local.dispose();
    await remote.dispose();
    await expect(remote.run({ tokens: tokens() })).rejects.toThrow(/disposed/);
  });

  it('reports a failed run as a GraphRunError with onnxruntime reason', async () => {
    const remote = await Graph.load(decoderFile, 'tiny/decoder', config, host);
    const error = await remote
      .run({ tokens: float32(new Float32Array(16), [2, 8]) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphRunError);
    expect((error as Error).message).toMatch(/graph tiny\/decoder failed: .*type/i);
    await remote.dispose();
  });

  it('reports a session that cannot be created', async () => {
    await expect(
      Graph.load(path.join(FIXTURE_DIR, 'manifest.json'), 'tiny/bad', config, host),
    ).rejects.toThrow(/cannot create a cpu session for tiny\/bad/);
  });
});

describe('transferList', () => {
  it('transfers whole buffers and copies views into shared ones', () => {
    const whole = new Float32Array(4);
    const shared = new Float32Array(8);
    const view = shared.subarray(2, 6);
    const tensors = {
      a: float32(whole, [4]),
      b: float32(view, [4]),
      c: float32(whole, [4]),
    };
    const list = transferList(tensors);
    expect(list).toContain(whole.buffer);
    expect(list).not.toContain(shared.buffer);
    // The view and the second use of `whole` were copied, so transferring cannot detach them twice.
    expect(tensors.b.data).not.toBe(view);
    expect(tensors.c.data).not.toBe(whole);
    expect(new Set(list).size).toBe(list.length);
  });
});

describe('workerEntry', () => {
  it('starts the built worker-thread.js next to a built module, and the tsx bootstrap from source', () => {
    expect(workerEntry('file:///app/gpu-backend/dist/main.js').href).toBe(
      'file:///app/gpu-backend/dist/worker-thread.js',
    );
    expect(workerEntry('file:///repo/gpu-backend/src/runtime/worker-host.ts').href).toBe(
      'file:///repo/gpu-backend/src/runtime/dev-worker.mjs',
    );
  });
});
