// POST /v1/variations: variations of an image. GigaTok's 1D tokens run coarse to fine (multi-level query
// init), so keeping the first `keep` tokens of the source and sampling the rest keeps its layout and
// changes its detail. The result is a generation job, with every semantics of POST /v1/generations
// (async, webhooks, Prefer: wait, Idempotency-Key, same parameters served from R2).
import {
  fromZodError,
  GenerationSchema,
  LIMITS,
  resolveVariationParams,
  VariationRequestSchema,
} from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../env.ts';
import { getModel } from '../lib/backend/models.ts';
import { submitGeneration } from '../lib/generations/producer.ts';
import { readJson } from '../lib/http/request-body.ts';
import {
  BACKEND,
  COMMON,
  describe,
  generationJobResponses,
  jobHeaders,
  jsonBody,
  problems,
} from '../lib/openapi/describe.ts';
import { resolveTokenSource } from '../lib/tokens/source.ts';
import { limitBody } from '../middleware/body-limit.ts';

export const variations = new Hono<AppEnv>().post(
  '/',
  describe({
    operationId: 'createVariation',
    summary: 'Start variations of an image (keep its first tokens, sample the rest)',
    description:
      'A generation job like POST /v1/generations (poll /v1/generations/{id}, webhooks, Prefer: wait, ' +
      'Idempotency-Key). An uploaded image is tokenized first (through the tokenize cache).',
    parameters: jobHeaders,
    requestBody: jsonBody(VariationRequestSchema),
    responses: {
      ...generationJobResponses(GenerationSchema),
      ...problems(400, ...COMMON, 404, 413, 415, 422, ...BACKEND),
    },
  }),
  // The source may be an image in base64: the same bound as a JSON tokenize body.
  limitBody(LIMITS.maxJsonBodyBytes),
  async (c) => {
    const raw = await readJson(c.req.raw);
    const parsed = VariationRequestSchema.safeParse(raw);
    if (!parsed.success) throw fromZodError(parsed.error);
    const request = parsed.data;
    return submitGeneration(c, raw, request.webhook, async () => {
      const source = await resolveTokenSource(c, request);
      const summary = await getModel(c.env, source.model);
      return { model: source.model, params: resolveVariationParams(request, summary, source.tokenId) };
    });
  },
);
