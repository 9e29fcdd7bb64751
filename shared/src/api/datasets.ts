// Token datasets (/v1/datasets): a tenant's labelled images, tokenized in the background into the
// outputs training code reads (a GTOK blob of every row, the official extractor's .npy tar, a manifest).
import { z } from 'zod';
import { AUGMENTATIONS } from '../augmentation.ts';
import { LIMITS } from '../limits.ts';
import { ModelIdSchema } from '../model-manifest.ts';
import { PreprocessingModeSchema } from '../preprocessing.ts';
import { enumField, fieldError, intField, patternField } from '../schema-fields.ts';
import {
  DATASET_EVENT_TYPES,
  LIST_PAGE_QUERY_FIELDS,
  listPageSchema,
  ProblemSchema,
  webhookSubscriptionSchema,
} from './public.ts';

/** A dataset name: it names the folders of the official layout (`<name>_codes/`), so path-safe. */
export const DATASET_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A class folder name (ImageFolder's label): one path segment, no control characters. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses.
export const CLASS_NAME_RE = /^[^/\\\u0000-\u001f]+$/;

/** The request's and the object's field: the augmentations of the official extractor. */
const AugmentationField = enumField('augmentation', AUGMENTATIONS);

export const DATASET_STATUSES = ['open', 'queued', 'running', 'completed', 'failed', 'canceled'] as const;
export type DatasetStatus = (typeof DATASET_STATUSES)[number];

const classMapping = z
  .record(
    patternField('labels.mapping', CLASS_NAME_RE, 'a class folder name', LIMITS.maxClassLabelLength),
    intField('labels.mapping', 0, LIMITS.maxClassId),
    { error: fieldError('labels.mapping', 'an object of class folder name -> integer label') },
  )
  .refine((m) => Object.keys(m).length >= 1, { error: () => "'labels.mapping' must name at least 1 class" });

/**
 * 'folders': ImageFolder's rule, the sorted class folder names numbered from 0 (fixed when the run
 * starts). A mapping: class folder name -> label, every image's class must be in it.
 */
export const DatasetLabelsSchema = z
  .union([z.literal('folders'), z.strictObject({ mapping: classMapping })], {
    error: fieldError('labels', "'folders' or { mapping: { <class>: <int> } }"),
  })
  .meta({ id: 'DatasetLabels' });
export type DatasetLabels = z.infer<typeof DatasetLabelsSchema>;

const DatasetEventTypeSchema = enumField('events', DATASET_EVENT_TYPES).meta({
  id: 'DatasetEventType',
  description: 'A dataset run event a webhook can subscribe to: the run completed, failed or was canceled.',
});

export const DatasetWebhookSubscriptionSchema = webhookSubscriptionSchema(
  DATASET_EVENT_TYPES,
  DatasetEventTypeSchema,
  {
    id: 'DatasetWebhookSubscription',
    description:
      "Where to POST Standard Webhooks events of this dataset's runs. All events when `events` is absent. " +
      'The URL must be https and must not point at a private or loopback address.',
  },
);

export const CreateDatasetRequestSchema = z
  .strictObject({
    name: patternField(
      'name',
      DATASET_NAME_RE,
      `1 to ${LIMITS.maxDatasetNameLength} characters of [A-Za-z0-9._-], starting with a letter or digit`,
      LIMITS.maxDatasetNameLength,
    ),
    model: ModelIdSchema.optional(),
    augmentation: AugmentationField.optional(),
    preprocessing: PreprocessingModeSchema.optional(),
    labels: DatasetLabelsSchema.optional(),
    webhook: DatasetWebhookSubscriptionSchema.optional(),
  })
  .meta({
    id: 'CreateDatasetRequest',
    description:
      "A new, empty dataset. Defaults: the default model, augmentation 'none', preprocessing 'official', labels 'folders'. " +
      'With `webhook`, each run that completes, fails or is canceled sends one signed event.',
  });
export type CreateDatasetRequest = z.infer<typeof CreateDatasetRequestSchema>;

export const DatasetSchema = z
  .strictObject({
    id: z.string(),
    object: z.literal('dataset'),
    name: z.string(),
    model: ModelIdSchema,
    augmentation: AugmentationField,
    preprocessing: PreprocessingModeSchema,
    labels: DatasetLabelsSchema,
    status: enumField('status', DATASET_STATUSES),
    /** Rows per image (1, 2 or 10). */
    rows_per_image: z.number().int().min(1),
    /** Class folder name -> label, fixed when the run starts (null before). */
    classes: z.record(z.string(), z.number().int()).nullable(),
    progress: z.strictObject({ images_done: z.number().int().min(0), images_total: z.number().int().min(0) }),
    error: ProblemSchema.nullable(),
    created_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .meta({ id: 'Dataset', description: 'A token dataset, its labelling, and how far its run is.' });
export type Dataset = z.infer<typeof DatasetSchema>;

export const DatasetWebhookPayloadSchema = z
  .strictObject({
    type: DatasetEventTypeSchema,
    timestamp: z.iso.datetime(),
    data: DatasetSchema,
  })
  .meta({
    id: 'DatasetWebhookPayload',
    description:
      'Body of a dataset webhook delivery: the dataset as GET /v1/datasets/{id} showed it when its run ' +
      'ended, signed per Standard Webhooks (headers webhook-id, webhook-timestamp, webhook-signature).',
  });
export type DatasetWebhookPayload = z.infer<typeof DatasetWebhookPayloadSchema>;

export const DatasetListSchema = listPageSchema(DatasetSchema).meta({
  id: 'DatasetList',
  description: 'A page of datasets, newest first.',
});
export type DatasetList = z.infer<typeof DatasetListSchema>;

export const DatasetUploadResultSchema = z
  .strictObject({
    added: z.number().int().min(0),
    /** Names already in the dataset (sent again): kept as they were. */
    skipped: z.number().int().min(0),
    images_total: z.number().int().min(0),
  })
  .meta({ id: 'DatasetUploadResult', description: 'What one upload added to the dataset.' });
export type DatasetUploadResult = z.infer<typeof DatasetUploadResultSchema>;

export const DatasetManifestRowSchema = z.strictObject({
  /** Row of the GTOK blob: image * rows_per_image + augmentation. */
  row: z.number().int().min(0),
  /** Index of the image: its file `<i>.npy` in the official layout. */
  image: z.number().int().min(0),
  name: z.string(),
  class_name: z.string(),
  label: z.number().int(),
  /** 0 for the image itself; 1 the mirror (flip); 0..9 the crops (ten_crop). */
  augmentation: z.number().int().min(0),
  /** The image's token set (all its rows), as GET /v1/tokens/{id} serves it. */
  token_id: z.string(),
});
export type DatasetManifestRow = z.infer<typeof DatasetManifestRowSchema>;

export const DatasetManifestSchema = z
  .strictObject({
    dataset: z.string(),
    name: z.string(),
    model: ModelIdSchema,
    augmentation: AugmentationField,
    rows_per_image: z.number().int().min(1),
    tokens_per_image: z.number().int().min(1),
    /** Label of each image in image order (the GTOK blob has no room for labels). */
    labels: z.array(z.number().int()),
    rows: z.array(DatasetManifestRowSchema),
  })
  .meta({
    id: 'DatasetManifest',
    description:
      'Row -> image name, class, label, augmentation index and token set id; written once per run.',
  });
export type DatasetManifest = z.infer<typeof DatasetManifestSchema>;

/** GET /v1/datasets: the same `limit` and `cursor` as every newest-first list. */
export const ListDatasetsQuerySchema = z.object(LIST_PAGE_QUERY_FIELDS);
