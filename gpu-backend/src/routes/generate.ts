// POST /v1/generate: class-conditional sampling (seeded, guided, KV-cached; through generate.onnx
// or step by step, see model-dir/generate-path.ts), optionally from forced first tokens (`prefixes`:
// variations), optionally decoded to images; POST /v1/generate/{request_id}/cancel stops a running one (so does the client hanging up).
import {
  ApiError,
  checkSamplingForModel,
  fromZodError,
  GenerateRequestSchema,
  RequestIdParamSchema,
  toBase64,
} from '@gigatok/shared';
import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { modelFor, tracked } from './model-call.ts';
import { methodNotAllowed, parseJsonBody } from './request.ts';

export const generateRoutes = new Hono<AppEnv>();

generateRoutes.post('/', async (c) => {
  const body = parseJsonBody(c, GenerateRequestSchema);
  const service = modelFor(c, body.model);
  const { tokenizer, ar } = service.model.manifest;
  checkSamplingForModel(body, { codebook_size: tokenizer.codebook_size, num_classes: ar.num_classes });
  const { generations } = c.var.deps;
  const cancel = new AbortController();
  const requestId = body.request_id;
  if (requestId !== undefined) {
    if (generations.has(requestId)) {
      throw new ApiError('conflict', `a generate request with request_id '${requestId}' is already running`, {
        field: 'request_id',
      });
    }
    generations.set(requestId, cancel);
  }
  const signal = AbortSignal.any([c.var.signal, cancel.signal]);
  const started = performance.now();
  try {
    const rows = await tracked(c, service.id, service.generateGraph, () =>
      service.generate(
        {
          seed: body.seed,
          classIds: body.class_ids,
          params: {
            cfgScale: body.cfg_scale,
            cfgSchedule: body.cfg_schedule,
            temperature: body.temperature,
            topK: body.top_k,
            topP: body.top_p,
          },
          ...(body.prefixes === undefined ? {} : { prefixes: body.prefixes }),
          ...(body.first_index === undefined ? {} : { firstIndex: body.first_index }),
        },
        signal,
      ),
    );
    const result: {
      model: string;
      seed: number;
      tokens: number[][];
      images?: { format: string; width: number; height: number; data: string }[];
    } = { model: service.id, seed: body.seed, tokens: rows.map((r) => Array.from(r)) };
    if (body.return_images) {
      const format = body.format ?? 'png';
      const images = await tracked(c, service.id, 'decoder', () => service.decode(rows, format, signal));
      result.images = images.map((img) => ({
        format: img.format,
        width: img.width,
        height: img.height,
        data: toBase64(img.data),
      }));
    }
    service.generateSpeed.record(rows.length, (performance.now() - started) / 1000);
    return c.json(result);
  } catch (error) {
    if (cancel.signal.aborted) {
      throw new ApiError('conflict', `generate request '${requestId}' was canceled`, { field: 'request_id' });
    }
    throw error;
  } finally {
    if (requestId !== undefined) generations.delete(requestId);
  }
});

generateRoutes.post('/:request_id/cancel', (c) => {
  const parsed = RequestIdParamSchema.safeParse({ request_id: c.req.param('request_id') });
  if (!parsed.success) throw fromZodError(parsed.error);
  const requestId = parsed.data.request_id;
  const controller = c.var.deps.generations.get(requestId);
  if (controller === undefined) {
    throw new ApiError('not_found', `no running generate request with request_id '${requestId}'`, {
      field: 'request_id',
    });
  }
  controller.abort(new Error(`canceled by POST /v1/generate/${requestId}/cancel`));
  return c.json({ request_id: requestId, status: 'canceled' });
});

generateRoutes.all('/', methodNotAllowed('POST'));
generateRoutes.all('/:request_id/cancel', methodNotAllowed('POST'));
