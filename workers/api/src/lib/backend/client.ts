// The one way the Worker's routes and queue consumers call the GPU backend. A call for a model goes to
// one of the hosts serving it (models.ts knows which, pool.ts picks); a host that refuses the
// connection or answers 503 or 429 rests for a moment and the call moves to another serving host,
// within the call's one deadline. Every backend call is safe to repeat on another host: encode, decode
// and embed are pure functions of their input, and a generate chunk is fixed by its seed, its results
// are written content-addressed and its job is completed under the D1 fence (generations/consumer.ts).
import { parseQueueDepth, QUEUE_DEPTH_HEADER } from '@gigatok/shared';
import type { z } from 'zod';
import { config } from '../config.ts';
import {
  type BackendCall,
  BackendError,
  backendFailure,
  readBackendJson,
  retryAfterSeconds,
  sendToHost,
} from './host-request.ts';
import { hostsServing } from './models.ts';
import { COOL_DOWN_MS, PoolBalancer } from './pool.ts';

/** This isolate's in-flight counts, reported depths and rests of every backend host. */
const balancer = new PoolBalancer();

/** Every configured host, each once, in the order of BACKEND_POOLS. */
export function allHosts(env: Env): string[] {
  return [...new Set(config(env).backendPools.flatMap((pool) => pool.urls))];
}

function modelOf(call: BackendCall): string | undefined {
  const json = call.json as { model?: unknown } | undefined;
  return typeof json?.model === 'string' ? json.model : undefined;
}

/** The hosts that may take `call`: those serving its model, else every host (the backend then answers). */
async function candidates(env: Env, call: BackendCall): Promise<string[]> {
  const hosts = allHosts(env);
  const model = modelOf(call);
  if (hosts.length === 1 || model === undefined) return hosts;
  const serving = await hostsServing(env, model);
  return serving.length > 0 ? serving : hosts;
}

/**
 * Sends one signed request to a host serving its model and returns the 2xx answer (or one of
 * `passStatuses`); every failure becomes a BackendError. Refusals move the call to another host while
 * one is left; a timeout does not (the deadline is spent).
 */
export async function callBackend(env: Env, call: BackendCall): Promise<Response> {
  const deadline = AbortSignal.timeout(call.timeoutMs ?? config(env).backendTimeoutMs);
  const hosts = await candidates(env, call);
  const tried = new Set<string>();
  let host = balancer.choose(hosts, tried);
  while (host !== null) {
    tried.add(host);
    const end = balancer.started(host);
    let response: Response;
    try {
      response = await sendToHost(env, host, call, deadline);
    } catch (error) {
      if (!(error instanceof BackendError && error.code === 'backend_unavailable')) throw error;
      balancer.coolDown(host, COOL_DOWN_MS);
      const next = balancer.choose(hosts, tried);
      if (next === null) throw error;
      logFailover(call, host, next, 'unreachable');
      host = next;
      continue;
    } finally {
      end();
    }
    balancer.reportDepth(host, parseQueueDepth(response.headers.get(QUEUE_DEPTH_HEADER)));
    if (response.status === 503 || response.status === 429) {
      balancer.coolDown(host, (retryAfterSeconds(response) ?? COOL_DOWN_MS / 1000) * 1000);
      const next = balancer.choose(hosts, tried);
      if (next !== null) {
        logFailover(call, host, next, `status ${response.status}`);
        await response.body?.cancel();
        host = next;
        continue;
      }
    }
    if (response.ok || call.passStatuses?.includes(response.status)) return response;
    throw await backendFailure(response, call.path);
  }
  // Only an empty configuration gets here; config() refuses one.
  throw new Error('no backend host is configured');
}

function logFailover(call: BackendCall, from: string, to: string, reason: string): void {
  console.warn(
    JSON.stringify({ message: 'backend host refused; trying another', path: call.path, from, to, reason }),
  );
}

/** Calls the backend and validates its JSON answer against a shared schema. */
export async function callBackendJson<S extends z.ZodType>(
  env: Env,
  call: BackendCall,
  schema: S,
): Promise<z.output<S>> {
  return readBackendJson(await callBackend(env, call), call.path, schema);
}

/**
 * Sends `call` to every host and ignores the answers: for what only the host running a request can act
 * on (canceling a generate by its request id), when the Worker does not know which host that is.
 */
export async function callEveryBackend(env: Env, call: BackendCall): Promise<void> {
  const deadline = AbortSignal.timeout(call.timeoutMs ?? config(env).backendTimeoutMs);
  await Promise.all(
    allHosts(env).map((host) =>
      sendToHost(env, host, call, deadline).then(
        (response) => response.body?.cancel(),
        () => undefined,
      ),
    ),
  );
}
