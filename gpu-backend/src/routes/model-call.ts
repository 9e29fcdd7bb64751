// How a route reaches a model: the loaded ModelService for a model id (or the problem to answer), and
// one Triton-style request record (success, or failure by problem code) around each call.
import { ApiError } from '@gigatok/shared';
import type { Context } from 'hono';
import type { AppEnv } from '../context.ts';
import type { GraphName } from '../metrics.ts';
import type { ModelService } from '../service/model-service.ts';

export function modelFor(c: Context<AppEnv>, id: string): ModelService {
  const { state } = c.var.deps;
  const service = state.models.get(id);
  if (service !== undefined) return service;
  if (state.status === 'loading') throw new ApiError('backend_unavailable', 'models are still loading');
  const known = [...state.models.keys()].join(', ');
  throw new ApiError('unknown_model', `'model' must be one of [${known}], got '${id}'`, { field: 'model' });
}

/** Runs `work`, recording one Triton-style request (success or failure by problem code) for `graph`. */
export async function tracked<T>(
  c: Context<AppEnv>,
  model: string,
  graph: GraphName,
  work: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  try {
    const result = await work();
    c.var.deps.metrics.recordRequest(model, graph, (performance.now() - started) * 1000);
    return result;
  } catch (error) {
    const code = error instanceof ApiError ? error.code : 'internal';
    c.var.deps.metrics.recordRequest(model, graph, (performance.now() - started) * 1000, code);
    throw error;
  }
}
