// Configuration from the environment, and model directory validation at load time.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, encodeBatch, loadConfig } from '../src/config.ts';
import { decideGeneratePath } from '../src/model-dir/generate-path.ts';
import { disposeModel, loadModel } from '../src/model-dir/loader.ts';
import { parseDevice } from '../src/runtime/device.ts';
import { FIXTURE_DIR } from './helpers.ts';

const base = { GIGATOK_MODEL_DIRS: FIXTURE_DIR, GIGATOK_BACKEND_SECRET: 'a-secret-of-sixteen+' };

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({
      modelDirs: [FIXTURE_DIR],
      device: 'cpu',
      maxBatch: 16,
      maxQueueDelayMs: 0,
      maxQueue: 256,
      port: 8790,
      host: '127.0.0.1',
      secrets: ['a-secret-of-sixteen+'],
      insecureDev: false,
    });
  });

  it('runs the encoder at 2 views on a CPU and at GIGATOK_MAX_BATCH on CUDA unless GIGATOK_ENCODE_MAX_BATCH says', () => {
    expect(loadConfig(base).encodeMaxBatch).toBe(2);
    expect(loadConfig({ ...base, GIGATOK_MAX_BATCH: '1' }).encodeMaxBatch).toBe(1);
    expect(encodeBatch('cuda', 64, 0)).toBe(64);
    expect(loadConfig({ ...base, GIGATOK_ENCODE_MAX_BATCH: '8' }).encodeMaxBatch).toBe(8);
    expect(
      loadConfig({ ...base, GIGATOK_MAX_BATCH: '4', GIGATOK_ENCODE_MAX_BATCH: '8' }).encodeMaxBatch,
    ).toBe(4);
    expect(() => loadConfig({ ...base, GIGATOK_ENCODE_MAX_BATCH: '-1' })).toThrow(/GIGATOK_ENCODE_MAX_BATCH/);
  });

  it('reads GIGATOK_GENERATE_PATH (auto by default) and refuses other values', () => {
    expect(loadConfig(base).generatePath).toBe('auto');
    expect(loadConfig({ ...base, GIGATOK_GENERATE_PATH: 'steps' }).generatePath).toBe('steps');
    expect(loadConfig({ ...base, GIGATOK_GENERATE_PATH: 'graph' }).generatePath).toBe('graph');
    expect(loadConfig({ ...base, GIGATOK_GENERATE_PATH: 'chunked' }).generatePath).toBe('chunked');
    expect(loadConfig(base).chunkSteps).toBe(0);
    expect(loadConfig({ ...base, GIGATOK_CHUNK_STEPS: '16' }).chunkSteps).toBe(16);
    expect(() => loadConfig({ ...base, GIGATOK_CHUNK_STEPS: '-1' })).toThrow(/GIGATOK_CHUNK_STEPS/);
    expect(() => loadConfig({ ...base, GIGATOK_GENERATE_PATH: 'fast' })).toThrow(/GIGATOK_GENERATE_PATH/);
  });

  it('requires the backend secret unless GIGATOK_INSECURE_DEV=1', () => {
    expect(() => loadConfig({ GIGATOK_MODEL_DIRS: FIXTURE_DIR })).toThrow(
      /GIGATOK_BACKEND_SECRET: is required/,
    );
    expect(loadConfig({ GIGATOK_MODEL_DIRS: FIXTURE_DIR, GIGATOK_INSECURE_DEV: '1' }).secrets).toEqual([]);
  });

  it('accepts several comma-separated secrets (rotation) and refuses short ones', () => {
    expect(
      loadConfig({ ...base, GIGATOK_BACKEND_SECRET: 'first-secret-aaaaaaa,second-secret-bbbbbb' }).secrets,
    ).toHaveLength(2);
    expect(() => loadConfig({ ...base, GIGATOK_BACKEND_SECRET: 'short' })).toThrow(/>= 16 characters/);
  });

  it('names every invalid variable', () => {
    let message = '';
    try {
      loadConfig({ ...base, GIGATOK_DEVICE: 'tpu', GIGATOK_MAX_BATCH: '0', PORT: 'http' });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      message = (e as Error).message;
    }
    expect(message).toContain('GIGATOK_DEVICE');
    expect(message).toContain('GIGATOK_MAX_BATCH');
    expect(message).toContain('PORT');
  });

  it('resolves relative model directories against the directory npm was started from', () => {
    const repo = path.resolve(FIXTURE_DIR, '..', '..', '..', '..');
    const c = loadConfig({
      ...base,
      GIGATOK_MODEL_DIRS: 'gpu-backend/test/fixtures/tiny-random',
      INIT_CWD: repo,
    });
    expect(c.modelDirs).toEqual([FIXTURE_DIR]);
  });

  it('refuses a model directory without manifest.json', () => {
    expect(() => loadConfig({ ...base, GIGATOK_MODEL_DIRS: tmpdir() })).toThrow(/no manifest\.json/);
  });
});

describe('parseDevice', () => {
  it('lists the valid devices when given an unknown one', () => {
    expect(parseDevice('cuda')).toBe('cuda');
    expect(() => parseDevice('rocm')).toThrow("'device' must be one of cpu, cuda, auto, got 'rocm'");
  });
});

describe('loadModel validation', () => {
  let dir: string;
  const session = {
    device: 'cpu' as const,
    cudaDeviceId: 0,
    intraOpThreads: 1,
    interOpThreads: 1,
    warmup: false,
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'gigatok-model-'));
    await cp(FIXTURE_DIR, dir, { recursive: true });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function editManifest(
    edit: (m: {
      tokenizer: Record<string, unknown>;
      files: { path: string; sha256: string; bytes: number }[];
    }) => void,
  ) {
    const file = path.join(dir, 'manifest.json');
    const m = JSON.parse(await readFile(file, 'utf8'));
    edit(m);
    await writeFile(file, JSON.stringify(m));
  }

  it('refuses a file whose sha256 differs from the manifest (same size)', async () => {
    const file = path.join(dir, 'encoder.onnx');
    const bytes = await readFile(file);
    bytes[bytes.length - 1]! ^= 0x01;
    await writeFile(file, bytes);
    await expect(loadModel(dir, session)).rejects.toThrow(
      /encoder\.onnx: sha256 [0-9a-f]{64}, manifest says/,
    );
  });

  it('refuses a manifest that misses a field, naming it', async () => {
    await editManifest((m) => {
      delete m.tokenizer.codebook_size;
    });
    await expect(loadModel(dir, session)).rejects.toThrow(/tokenizer\.codebook_size/);
  });

  it('refuses a file path that leaves the model directory', async () => {
    await editManifest((m) => {
      m.files.push({ path: '../escape.onnx', sha256: '0'.repeat(64), bytes: 1 });
    });
    await expect(loadModel(dir, session)).rejects.toThrow(
      /files\.\d+\.path: 'path' must be a relative path inside the model directory/,
    );
  });

  it('refuses a graph file that the manifest does not list', async () => {
    await editManifest((m) => {
      m.files = m.files.filter((f) => f.path !== 'ar_step.onnx');
    });
    await expect(loadModel(dir, session)).rejects.toThrow(
      /graphs\.ar_step\.file: graph 'ar_step' file "ar_step\.onnx" is not listed in 'files'/,
    );
  });

  it('loads generate_chunk.onnx for auto and chunked, generate.onnx for graph, neither for steps; refuses a missing one', async () => {
    // auto: the chunked graph first, the whole-run one for a model without generate_chunk.onnx.
    expect(decideGeneratePath({ arStep: true, generate: true, chunk: true }, 'auto')).toBe('chunked');
    expect(decideGeneratePath({ arStep: true, generate: true, chunk: false }, 'auto')).toBe('graph');
    expect(decideGeneratePath({ arStep: true, generate: false, chunk: true }, 'auto')).toBe('chunked');
    for (const [generatePath, chunk, whole] of [
      ['auto', true, false],
      ['chunked', true, false],
      ['graph', false, true],
      ['steps', false, false],
    ] as const) {
      // S = 2 of the fixture's 8 tokens: a chunk is shorter than a generation.
      const model = await loadModel(dir, { ...session, warmup: true, generatePath, chunkSteps: 2 });
      expect([model.generateChunk !== undefined, model.generate !== undefined]).toEqual([chunk, whole]);
      await disposeModel(model);
    }
    // auto, where S covers the whole sequence: generate.onnx, as chunks would be whole generations.
    // Without warm-up (no timing) S is T / 4, so chunked.
    for (const [options, path] of [
      [{ warmup: true, chunkSteps: 8 }, 'graph'],
      [{ warmup: false, chunkSteps: 8 }, 'graph'],
      [{ warmup: false, chunkSteps: 0 }, 'chunked'],
    ] as const) {
      const model = await loadModel(dir, { ...session, ...options, generatePath: 'auto' });
      expect([model.generatePath, model.generateChunk !== undefined, model.generate !== undefined]).toEqual([
        path,
        path === 'chunked',
        path === 'graph',
      ]);
      await disposeModel(model);
    }
    await editManifest((m) => {
      delete (m as unknown as { graphs: Record<string, unknown> }).graphs.generate_chunk;
      m.files = m.files.filter((f) => f.path !== 'generate_chunk.onnx');
    });
    const noChunk = await loadModel(dir, { ...session, generatePath: 'auto' });
    expect([noChunk.generatePath, noChunk.generateChunk, noChunk.generate !== undefined]).toEqual([
      'graph',
      undefined,
      true,
    ]);
    await disposeModel(noChunk);
    await expect(loadModel(dir, { ...session, generatePath: 'chunked' })).rejects.toThrow(
      /GIGATOK_GENERATE_PATH=chunked needs generate_chunk\.onnx/,
    );
    await editManifest((m) => {
      delete (m as unknown as { graphs: Record<string, unknown> }).graphs.generate;
      m.files = m.files.filter((f) => f.path !== 'generate.onnx');
    });
    const without = await loadModel(dir, { ...session, generatePath: 'auto' });
    expect(without.generate).toBeUndefined();
    expect(without.generatePath).toBe('steps');
    await disposeModel(without);
    await expect(loadModel(dir, { ...session, generatePath: 'graph' })).rejects.toThrow(
      /GIGATOK_GENERATE_PATH=graph needs generate\.onnx/,
    );
  });
});
