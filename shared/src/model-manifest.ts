// manifest.json of a model directory (docs/model-contract.md): what the backend loads and the Worker
// advertises. Parsed strictly with cross-field checks, so a broken directory fails at load, not mid-request.
import { z } from 'zod';
import { MODEL_ID_RE, SHA256_HEX_RE } from './ids.ts';
import { LIMITS } from './limits.ts';
import { boolField, enumField, intField, numberField, patternField } from './schema-fields.ts';

export const MANIFEST_FORMAT_VERSION = 1;
export const MANIFEST_FILE_NAME = 'manifest.json';

export const CFG_SCHEDULES = ['constant', 'step'] as const;
export type CfgSchedule = (typeof CFG_SCHEDULES)[number];

/** Model ids: `[a-z0-9][a-z0-9._-]{0,63}`. */
export const ModelIdSchema = patternField(
  'model',
  MODEL_ID_RE,
  'a model id of 1 to 64 characters [a-z0-9._-], starting with a letter or digit',
  64,
).meta({ id: 'ModelId', description: 'Model id, e.g. "gigatok-nano".', example: 'gigatok-nano' });

export const CfgScheduleSchema = enumField('cfg_schedule', CFG_SCHEDULES).meta({
  id: 'CfgSchedule',
  description:
    'Classifier-free guidance schedule. "constant": cfg_scale at every step. "step" (GigaTok): full cfg_scale ' +
    'for the first token, 1.0 while (i+1)/T < 0.18, full cfg_scale after.',
});

/** A relative path inside the model directory: no absolute paths, no "..", no backslashes. */
const relativePath = (name: string) =>
  patternField(
    name,
    /^(?!\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._/-]+$/,
    'a relative path inside the model directory ([A-Za-z0-9._/-], no "..")',
    255,
  );

export const SamplingDefaultsSchema = z
  .strictObject({
    cfg_scale: numberField('cfg_scale', 0, LIMITS.maxCfgScale),
    cfg_schedule: CfgScheduleSchema,
    temperature: numberField('temperature', 0, LIMITS.maxTemperature, { minExclusive: true }),
    top_k: intField('top_k', 0, LIMITS.maxCodebookSize),
    top_p: numberField('top_p', 0, 1, { minExclusive: true }),
  })
  .meta({ id: 'SamplingDefaults', description: 'Sampling parameters a generation uses when it names none.' });
export type SamplingDefaults = z.infer<typeof SamplingDefaultsSchema>;

const GraphSchema = z.strictObject({ file: relativePath('file') });

/**
 * Where one model's weights came from: the checkpoint file name and the top-level key its state dict
 * was read from (null: the file is the state dict itself). The exporter picks the key the official
 * sampling scripts pick (tokenizer: ema, model, state_dict; GPT: model, module, state_dict) unless told
 * another.
 */
const CheckpointSourceSchema = z.strictObject({
  checkpoint: z.string().min(1).max(255),
  state_key: z.string().min(1).max(64).nullable(),
});

export const ModelManifestSchema = z
  .strictObject({
    format_version: z.literal(MANIFEST_FORMAT_VERSION, {
      error: (iss) => `'format_version' must be ${MANIFEST_FORMAT_VERSION}, got ${JSON.stringify(iss.input)}`,
    }),
    model_id: patternField('model_id', MODEL_ID_RE, 'a model id [a-z0-9][a-z0-9._-]{0,63}', 64),
    description: z.string().max(1000),
    dtype: enumField('dtype', ['float32', 'float16']),
    tokenizer: z.strictObject({
      config: z.string().min(1).max(64),
      image_size: intField('image_size', 1, 4096),
      tokens_per_image: intField('tokens_per_image', 1, LIMITS.maxTokensPerImage),
      codebook_size: intField('codebook_size', LIMITS.minCodebookSize, LIMITS.maxCodebookSize),
      codebook_dim: intField('codebook_dim', 1, 65_536),
    }),
    ar: z.strictObject({
      config: z.string().min(1).max(64),
      num_classes: intField('num_classes', 1, LIMITS.maxClassId),
      null_class_id: intField('null_class_id', 1, LIMITS.maxClassId + 1),
      n_layer: intField('n_layer', 1, 1024),
      n_head: intField('n_head', 1, 1024),
      head_dim: intField('head_dim', 1, 65_536),
      embedding_layer: intField('embedding_layer', 0, 1024),
    }),
    graphs: z.strictObject({
      encoder: GraphSchema,
      decoder: GraphSchema,
      ar_step: GraphSchema,
      generate: GraphSchema.optional(),
      /** generate_chunk.onnx: the sampling loop in chunks for rows at their own positions (optional). */
      generate_chunk: GraphSchema.optional(),
      /** embed.onnx: optional, so directories exported before it still load. */
      embed: GraphSchema.optional(),
    }),
    files: z
      .array(
        z.strictObject({
          path: relativePath('path'),
          sha256: patternField('sha256', SHA256_HEX_RE, '64 lowercase hex digits', 64),
          bytes: intField('bytes', 0, Number.MAX_SAFE_INTEGER),
        }),
      )
      .min(1),
    sampling_defaults: SamplingDefaultsSchema,
    class_labels: z.array(z.string().min(1).max(LIMITS.maxClassLabelLength)),
    /** Present when the weights were loaded from checkpoints; absent for random weights and older exports. */
    source: z.strictObject({ tokenizer: CheckpointSourceSchema, ar: CheckpointSourceSchema }).optional(),
  })
  .superRefine((m, ctx) => {
    // Cross-field rules of the model directory contract.
    if (m.ar.null_class_id !== m.ar.num_classes) {
      ctx.addIssue({
        code: 'custom',
        path: ['ar', 'null_class_id'],
        message: `'null_class_id' must equal num_classes (${m.ar.num_classes}), got ${m.ar.null_class_id}`,
      });
    }
    if (m.class_labels.length !== m.ar.num_classes) {
      ctx.addIssue({
        code: 'custom',
        path: ['class_labels'],
        message: `'class_labels' must have num_classes (${m.ar.num_classes}) entries, got ${m.class_labels.length}`,
      });
    }
    if (m.sampling_defaults.top_k > m.tokenizer.codebook_size) {
      ctx.addIssue({
        code: 'custom',
        path: ['sampling_defaults', 'top_k'],
        message: `'top_k' must be in [0, ${m.tokenizer.codebook_size}], got ${m.sampling_defaults.top_k}`,
      });
    }
    const listed = new Set<string>();
    m.files.forEach((file, i) => {
      if (file.path === MANIFEST_FILE_NAME) {
        ctx.addIssue({
          code: 'custom',
          path: ['files', i, 'path'],
          message: `'files' must not list ${MANIFEST_FILE_NAME}`,
        });
      }
      if (listed.has(file.path)) {
        ctx.addIssue({
          code: 'custom',
          path: ['files', i, 'path'],
          message: `'files' lists "${file.path}" twice`,
        });
      }
      listed.add(file.path);
    });
    for (const [name, graph] of Object.entries(m.graphs)) {
      if (graph && !listed.has(graph.file)) {
        ctx.addIssue({
          code: 'custom',
          path: ['graphs', name, 'file'],
          message: `graph '${name}' file "${graph.file}" is not listed in 'files'`,
        });
      }
    }
  })
  .meta({ id: 'ModelManifest', description: 'manifest.json of a model directory (docs/model-contract.md).' });
export type ModelManifest = z.infer<typeof ModelManifestSchema>;

/** What /v1/models (Worker and backend) says about a loaded model. */
export const ManifestSummarySchema = z
  .strictObject({
    id: ModelIdSchema,
    description: z.string(),
    dtype: enumField('dtype', ['float32', 'float16']),
    image_size: intField('image_size', 1, 4096),
    tokens_per_image: intField('tokens_per_image', 1, LIMITS.maxTokensPerImage),
    codebook_size: intField('codebook_size', LIMITS.minCodebookSize, LIMITS.maxCodebookSize),
    num_classes: intField('num_classes', 1, LIMITS.maxClassId),
    class_labels: z.array(z.string()),
    sampling_defaults: SamplingDefaultsSchema,
    /** Whether the single-graph sampling loop (graphs.generate) is present. */
    single_graph_sampling: boolField('single_graph_sampling'),
  })
  .meta({ id: 'ModelSummary', description: 'A loaded model: shapes, classes and sampling defaults.' });
export type ManifestSummary = z.infer<typeof ManifestSummarySchema>;

/** Parses manifest.json content; throws a TypeError listing every problem with its JSON path. */
export function parseManifest(json: unknown): ModelManifest {
  const result = ModelManifestSchema.safeParse(json);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(root)';
    return `${path}: ${issue.message}`;
  });
  throw new TypeError(`invalid ${MANIFEST_FILE_NAME}:\n  ${problems.join('\n  ')}`);
}

export function summarizeManifest(manifest: ModelManifest): ManifestSummary {
  return {
    id: manifest.model_id,
    description: manifest.description,
    dtype: manifest.dtype,
    image_size: manifest.tokenizer.image_size,
    tokens_per_image: manifest.tokenizer.tokens_per_image,
    codebook_size: manifest.tokenizer.codebook_size,
    num_classes: manifest.ar.num_classes,
    class_labels: [...manifest.class_labels],
    sampling_defaults: { ...manifest.sampling_defaults },
    single_graph_sampling: manifest.graphs.generate !== undefined,
  };
}
