// /v1/datasets: token datasets for training pipelines (lib/datasets/*).
//   POST /                 create an empty dataset (optionally with a webhook for its runs' ends)
//   GET  /                 list, newest first
//   GET  /{id}             one dataset, with progress
//   POST /{id}/images      add images: an ImageFolder tar or multipart
//   POST /{id}/run         start tokenizing in the background (idempotent)
//   POST /{id}/cancel      stop between batches
//   GET  /{id}/codes       every row as one GTOK blob      \
//   GET  /{id}/codes.tar   the official extractor's layout  } written once when the run completes; ETag
//   GET  /{id}/manifest    row -> image, label, token set  /
import {
  ApiError,
  CreateDatasetRequestSchema,
  DATASET_EVENT_TYPES,
  DATASET_ID_RE,
  DatasetListSchema,
  DatasetManifestSchema,
  DatasetSchema,
  DatasetUploadResultSchema,
  DEFAULT_PREPROCESSING,
  ErrorCode,
  fromZodError,
  LIMITS,
  ListDatasetsQuerySchema,
  newDatasetId,
  TOKENS_MEDIA_TYPE,
} from '@gigatok/shared';
import { type Context, Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { getModel } from '../lib/backend/models.ts';
import { config } from '../lib/config.ts';
import { OUTPUT_MEDIA_TYPES } from '../lib/datasets/outputs.ts';
import { startDatasetRun } from '../lib/datasets/run.ts';
import {
  cancelRun,
  type DatasetOutputs,
  getTenantDataset,
  insertDataset,
  listTenantDatasets,
} from '../lib/datasets/store.ts';
import { readUpload, storeUpload, TAR_MEDIA_TYPE } from '../lib/datasets/upload.ts';
import { datasetView } from '../lib/datasets/view.ts';
import { matchesIfNoneMatch, notModified } from '../lib/http/conditional.ts';
import { decodeCursor, encodeCursor } from '../lib/http/cursor.ts';
import { readJson } from '../lib/http/request-body.ts';
import {
  BACKEND,
  binary,
  COMMON,
  describe,
  header,
  idParam,
  ifNoneMatch,
  json,
  jsonBody,
  listPageParameters,
  problems,
  ref,
} from '../lib/openapi/describe.ts';
import { emitDatasetEvent } from '../lib/webhooks/delivery.ts';
import { acceptWebhook } from '../lib/webhooks/subscription.ts';
import { JSON_BODY_LIMIT, limitBody } from '../middleware/body-limit.ts';

const NO_STORE = { 'Cache-Control': 'no-store' };
const datasetId = idParam('ds', 'dataset');

async function ownDataset(c: Context<AppEnv>) {
  const id = c.req.param('id') ?? '';
  const dataset = DATASET_ID_RE.test(id)
    ? await getTenantDataset(c.env.DB, c.get('caller').tenantId, id)
    : null;
  if (!dataset) throw new ApiError(ErrorCode.not_found, `no dataset '${id}'`);
  return dataset;
}

/** Serves one output of a completed dataset with its strong ETag (the content's SHA-256). */
async function serveOutput(c: Context<AppEnv>, which: keyof DatasetOutputs) {
  const dataset = await ownDataset(c);
  if (dataset.status !== 'completed' || !dataset.outputs) {
    throw new ApiError(
      ErrorCode.conflict,
      `dataset '${dataset.id}' is ${dataset.status}: its outputs exist once its run has completed`,
    );
  }
  const file = dataset.outputs[which];
  const headers = { ETag: `"${file.sha256}"`, 'Cache-Control': 'private, no-cache' };
  if (matchesIfNoneMatch(c.req.header('if-none-match'), headers.ETag)) return notModified(headers);
  const object = await c.env.ARTIFACTS.get(file.key);
  if (!object) throw new Error(`output ${file.key} of dataset ${dataset.id} is missing from R2`);
  return new Response(object.body, {
    headers: { ...headers, 'Content-Type': OUTPUT_MEDIA_TYPES[which], 'Content-Length': String(file.bytes) },
  });
}

const outputResponses = (description: string, content: Record<string, unknown>) => ({
  '200': {
    description,
    headers: { ETag: header('Strong validator: the SHA-256 of the bytes.') },
    content,
  },
  '304': { description: 'Not modified (If-None-Match).' },
  ...problems(...COMMON, 404, 409),
});

const UPLOAD_LIMITS =
  `At most ${LIMITS.maxDatasetUploadBytes} bytes per request (413 otherwise; Workers accept 100 MB bodies, ` +
  `so send a larger dataset in several requests), each image at most ${LIMITS.maxImageBytes} bytes and ` +
  `checked like POST /v1/tokenize, at most ${LIMITS.maxDatasetImages} images per dataset. A name already ` +
  'in the dataset is skipped. Only an open dataset (not yet run) takes images.';

export const datasets = new Hono<AppEnv>()
  .post(
    '/',
    describe({
      operationId: 'createDataset',
      summary: 'Create a token dataset',
      requestBody: jsonBody(CreateDatasetRequestSchema),
      responses: {
        '201': json('Created, open for images.', DatasetSchema, { Location: header('URL of the dataset.') }),
        ...problems(400, ...COMMON, 413, 415, ...BACKEND),
      },
    }),
    limitBody(JSON_BODY_LIMIT),
    async (c) => {
      const parsed = CreateDatasetRequestSchema.safeParse(await readJson(c.req.raw));
      if (!parsed.success) throw fromZodError(parsed.error);
      const webhook = acceptWebhook(c.env, parsed.data.webhook, DATASET_EVENT_TYPES);
      const model = parsed.data.model ?? config(c.env).defaultModel;
      await getModel(c.env, model);
      const dataset = await insertDataset(c.env.DB, {
        id: newDatasetId(),
        tenantId: c.get('caller').tenantId,
        name: parsed.data.name,
        model,
        augmentation: parsed.data.augmentation ?? 'none',
        preprocessing: parsed.data.preprocessing ?? DEFAULT_PREPROCESSING,
        labels: parsed.data.labels ?? 'folders',
        webhook,
      });
      return c.json(datasetView(dataset), 201, { ...NO_STORE, Location: `/v1/datasets/${dataset.id}` });
    },
  )
  .get(
    '/',
    describe({
      operationId: 'listDatasets',
      summary: 'List datasets, newest first',
      parameters: listPageParameters,
      responses: { '200': json('A page of datasets.', DatasetListSchema), ...problems(400, ...COMMON) },
    }),
    async (c) => {
      const parsed = ListDatasetsQuerySchema.safeParse(c.req.query());
      if (!parsed.success) throw fromZodError(parsed.error);
      const after = parsed.data.cursor ? decodeCursor(parsed.data.cursor, DATASET_ID_RE) : null;
      const page = await listTenantDatasets(
        c.env.DB,
        c.get('caller').tenantId,
        parsed.data.limit ?? LIMITS.defaultListLimit,
        after,
      );
      return c.json(
        {
          object: 'list',
          data: page.datasets.map(datasetView),
          next_cursor: page.next ? encodeCursor(page.next) : null,
        },
        200,
        NO_STORE,
      );
    },
  )
  .get(
    '/:id',
    describe({
      operationId: 'getDataset',
      summary: 'A dataset and its progress',
      parameters: [datasetId],
      responses: { '200': json('The dataset.', DatasetSchema), ...problems(...COMMON, 404) },
    }),
    async (c) => c.json(datasetView(await ownDataset(c)), 200, NO_STORE),
  )
  .post(
    '/:id/images',
    describe({
      operationId: 'addDatasetImages',
      summary: 'Add images to a dataset',
      description:
        `An ImageFolder tar (${TAR_MEDIA_TYPE}): each regular file's class is the folder holding it ` +
        "(`cat/0001.jpg`, `train/cat/0001.jpg`); hidden files are passed over. Or multipart: 'image' file " +
        "parts, with 'label' text parts in the same order or filenames '<class>/<file>'. " +
        UPLOAD_LIMITS,
      parameters: [datasetId],
      requestBody: {
        required: true,
        description: UPLOAD_LIMITS,
        content: {
          [TAR_MEDIA_TYPE]: { schema: binary },
          'multipart/form-data': {
            schema: {
              type: 'object',
              required: ['image'],
              properties: {
                image: { type: 'array', items: binary },
                label: { type: 'array', items: { type: 'string' } },
              },
            },
          },
        },
      },
      responses: {
        '200': json('Added.', DatasetUploadResultSchema),
        ...problems(400, ...COMMON, 404, 409, 413, 415, 422),
      },
    }),
    limitBody(LIMITS.maxDatasetUploadBytes),
    async (c) => {
      const dataset = await ownDataset(c);
      if (dataset.status !== 'open') {
        throw new ApiError(
          ErrorCode.conflict,
          `dataset '${dataset.id}' is ${dataset.status}: only an open dataset takes images`,
        );
      }
      const result = await storeUpload(c.env, dataset, await readUpload(c.req.raw));
      return c.json(
        { added: result.added, skipped: result.skipped, images_total: result.total },
        200,
        NO_STORE,
      );
    },
  )
  .post(
    '/:id/run',
    describe({
      operationId: 'runDataset',
      summary: 'Tokenize a dataset in the background',
      description:
        'Fixes the labels (folders: sorted class names numbered from 0) and the image order (ImageFolder ' +
        'order), then tokenizes in batches on a queue. Idempotent: a dataset already queued, running or ' +
        'completed is answered as it is (200); a canceled or failed one resumes where it stopped. Images ' +
        'this tenant tokenized before under the same model, preprocessing and augmentation are not sent again.',
      parameters: [datasetId],
      responses: {
        '202': json('Started; poll GET /v1/datasets/{id}.', DatasetSchema),
        '200': json('Already started or completed.', DatasetSchema),
        ...problems(400, ...COMMON, 404, 409),
      },
    }),
    async (c) => {
      const { dataset, started } = await startDatasetRun(c.env, await ownDataset(c));
      return c.json(datasetView(dataset), started ? 202 : 200, NO_STORE);
    },
  )
  .post(
    '/:id/cancel',
    describe({
      operationId: 'cancelDataset',
      summary: 'Cancel a queued or running dataset',
      description:
        'Stops between batches; the images tokenized so far are kept, and a later run resumes. A dataset ' +
        'with a webhook sends dataset.canceled.',
      parameters: [datasetId],
      responses: { '200': json('Canceled.', DatasetSchema), ...problems(...COMMON, 404, 409) },
    }),
    async (c) => {
      const dataset = await ownDataset(c);
      const canceled = await cancelRun(c.env.DB, dataset.tenantId, dataset.id);
      if (!canceled) {
        throw new ApiError(ErrorCode.not_cancelable, `dataset '${dataset.id}' is ${dataset.status}`);
      }
      await emitDatasetEvent(c.env, canceled, 'dataset.canceled');
      return c.json(datasetView(canceled), 200, NO_STORE);
    },
  )
  .get(
    '/:id/codes',
    describe({
      operationId: 'getDatasetCodes',
      summary: "Every row of a dataset's tokens as one GTOK blob",
      description:
        'Rows image-major (row = image * rows_per_image + augmentation), images in ImageFolder order. GTOK ' +
        'carries no labels: they are in the manifest and the tar.',
      parameters: [datasetId, ifNoneMatch],
      responses: outputResponses('The GTOK blob.', { [TOKENS_MEDIA_TYPE]: { schema: binary } }),
    }),
    (c) => serveOutput(c, 'codes'),
  )
  .get(
    '/:id/codes.tar',
    describe({
      operationId: 'getDatasetCodesTar',
      summary: "A dataset in the official extractor's layout",
      description:
        '`<name>_codes/<i>.npy` (int64, shape [1, rows_per_image, tokens_per_image]) and ' +
        '`<name>_labels/<i>.npy` (int64, shape [1]) per image i, as extract_codes_c2i.py writes them, so ' +
        "the official training code's dataset reads the folder unchanged.",
      parameters: [datasetId, ifNoneMatch],
      responses: outputResponses('The tar.', { [TAR_MEDIA_TYPE]: { schema: binary } }),
    }),
    (c) => serveOutput(c, 'tar'),
  )
  .get(
    '/:id/manifest',
    describe({
      operationId: 'getDatasetManifest',
      summary: 'Row -> image name, label, augmentation, token set of a dataset',
      parameters: [datasetId, ifNoneMatch],
      responses: outputResponses('The manifest.', {
        'application/json': { schema: ref(DatasetManifestSchema) },
      }),
    }),
    (c) => serveOutput(c, 'manifest'),
  );
