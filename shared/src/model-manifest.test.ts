import { describe, expect, it } from 'vitest';
import { fromZodError } from './errors.ts';
import { ModelManifestSchema, parseManifest, summarizeManifest } from './model-manifest.ts';

const sha = (c: string) => c.repeat(64);

function nano() {
  return {
    format_version: 1,
    model_id: 'gigatok-nano',
    description: 'nano GigaTok + GPT on 32x32 digits',
    dtype: 'float32',
    tokenizer: { config: 'nano', image_size: 32, tokens_per_image: 32, codebook_size: 1024, codebook_dim: 8 },
    ar: {
      config: 'gpt-nano',
      num_classes: 10,
      null_class_id: 10,
      n_layer: 4,
      n_head: 4,
      head_dim: 32,
      embedding_layer: 2,
    },
    graphs: {
      encoder: { file: 'encoder.onnx' },
      decoder: { file: 'decoder.onnx' },
      ar_step: { file: 'ar_step.onnx' },
    },
    files: [
      { path: 'encoder.onnx', sha256: sha('a'), bytes: 1000 },
      { path: 'decoder.onnx', sha256: sha('b'), bytes: 2000 },
      { path: 'ar_step.onnx', sha256: sha('c'), bytes: 3000 },
      { path: 'weights/ar_step.onnx.data', sha256: sha('d'), bytes: 0 },
    ],
    sampling_defaults: { cfg_scale: 4, cfg_schedule: 'constant', temperature: 1, top_k: 0, top_p: 1 },
    class_labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  };
}

/** JSON paths of every issue the schema reports for `value`. */
function issuePaths(value: unknown): string[] {
  const result = ModelManifestSchema.safeParse(value);
  if (result.success) return [];
  return result.error.issues.map((i) => i.path.join('.'));
}

describe('ModelManifestSchema', () => {
  it('accepts the default model manifest of the contract', () => {
    expect(issuePaths(nano())).toEqual([]);
  });

  it('summarises a manifest for /v1/models', () => {
    const m = nano();
    m.graphs = { ...m.graphs, generate: { file: 'encoder.onnx' } } as typeof m.graphs;
    expect(summarizeManifest(parseManifest(m))).toEqual({
      id: 'gigatok-nano',
      description: 'nano GigaTok + GPT on 32x32 digits',
      dtype: 'float32',
      image_size: 32,
      tokens_per_image: 32,
      codebook_size: 1024,
      num_classes: 10,
      class_labels: m.class_labels,
      sampling_defaults: m.sampling_defaults,
      single_graph_sampling: true,
    });
    expect(summarizeManifest(parseManifest(nano())).single_graph_sampling).toBe(false);
  });

  it('takes an optional embed graph, which must be listed in files like every graph', () => {
    const m = nano();
    m.graphs = { ...m.graphs, embed: { file: 'ar_step.onnx' } } as typeof m.graphs;
    expect(issuePaths(m)).toEqual([]);
    m.graphs = { ...m.graphs, embed: { file: 'embed.onnx' } } as typeof m.graphs;
    expect(issuePaths(m)).toEqual(['graphs.embed.file']);
  });

  it('takes an optional source naming each checkpoint and the state key read (null: the file itself)', () => {
    const withSource = {
      ...nano(),
      source: {
        tokenizer: { checkpoint: 'VQ_SS256.pt', state_key: 'ema' },
        ar: { checkpoint: 'GPT_B.pt', state_key: null },
      },
    };
    expect(parseManifest(withSource).source).toEqual(withSource.source);
    expect(parseManifest(nano()).source).toBeUndefined();
    const noKey = { ...withSource, source: { ...withSource.source, ar: { checkpoint: 'GPT_B.pt' } } };
    expect(issuePaths(noKey)).toEqual(['source.ar.state_key']);
    const extra = { ...withSource, source: { ...withSource.source, steps: 3 } };
    expect(issuePaths(extra)).toEqual(['source']);
  });

  it('requires null_class_id = num_classes and one label per class', () => {
    const m = nano();
    m.ar.null_class_id = 0;
    m.class_labels.pop();
    expect(issuePaths(m)).toEqual(expect.arrayContaining(['ar.null_class_id', 'class_labels']));
  });

  it('requires every graph file to be listed in files, each once, never manifest.json', () => {
    const m = nano();
    m.files = m.files.filter((f) => f.path !== 'decoder.onnx');
    expect(issuePaths(m)).toEqual(['graphs.decoder.file']);
    const dup = nano();
    dup.files.push({ path: 'encoder.onnx', sha256: sha('e'), bytes: 1 });
    expect(issuePaths(dup)).toEqual(['files.4.path']);
    const self = nano();
    self.files.push({ path: 'manifest.json', sha256: sha('e'), bytes: 1 });
    expect(issuePaths(self)).toEqual(['files.4.path']);
  });

  it('requires lowercase 64-hex sha256 and whole byte counts', () => {
    for (const bad of [sha('A'), sha('a').slice(1), `${sha('a')}0`, sha('g')]) {
      const m = nano();
      m.files[0]!.sha256 = bad;
      expect(issuePaths(m)).toEqual(['files.0.sha256']);
    }
    const m = nano();
    m.files[1]!.bytes = -1;
    expect(issuePaths(m)).toEqual(['files.1.bytes']);
  });

  it('refuses paths that leave the directory', () => {
    for (const bad of ['../encoder.onnx', '/etc/passwd', 'a/../../b', 'a\\b', './x', '']) {
      const m = nano();
      m.graphs.encoder.file = bad;
      expect(issuePaths(m), bad).toContain('graphs.encoder.file');
    }
  });

  it('refuses unknown keys, other format versions, bad ids and bad sampling defaults', () => {
    expect(issuePaths({ ...nano(), extra: 1 })).toEqual(['']);
    expect(issuePaths({ ...nano(), format_version: 2 })).toEqual(['format_version']);
    expect(issuePaths({ ...nano(), model_id: 'GigaTok' })).toEqual(['model_id']);
    expect(issuePaths({ ...nano(), dtype: 'int8' })).toEqual(['dtype']);
    const m = nano();
    m.sampling_defaults.top_k = 2000;
    expect(issuePaths(m)).toEqual(['sampling_defaults.top_k']);
    const t = nano();
    t.sampling_defaults.temperature = 0;
    expect(issuePaths(t)).toEqual(['sampling_defaults.temperature']);
    const c = nano();
    c.tokenizer.codebook_size = 1;
    expect(issuePaths(c)).toContain('tokenizer.codebook_size');
  });

  it('explains problems with JSON paths and ranges', () => {
    const m = nano();
    m.ar.null_class_id = 3;
    m.tokenizer.tokens_per_image = 0;
    expect(() => parseManifest(m)).toThrow(TypeError);
    expect(() => parseManifest(m)).toThrow(
      /tokenizer\.tokens_per_image: 'tokens_per_image' must be an integer in \[1, 4096\], got 0/,
    );
    const result = ModelManifestSchema.safeParse(m);
    if (result.success) throw new Error('expected failure');
    expect(fromZodError(result.error).field).toBe('tokenizer.tokens_per_image');
  });
});
