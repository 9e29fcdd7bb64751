// What every route and middleware of the backend app can reach: loaded models, configuration,
// metrics, and the registry of cancelable generate requests.
import type { Metrics } from './metrics.ts';
import type { ModelService } from './service/model-service.ts';

export interface BackendState {
  /** `loading` until every model is loaded and warmed up; `draining` after SIGTERM. */
  status: 'loading' | 'ready' | 'draining' | 'failed';
  models: Map<string, ModelService>;
}

export interface AppOptions {
  secrets: readonly string[];
  insecureDev: boolean;
  maxBodyBytes: number;
  requestTimeoutMs: number;
}

export interface AppDeps {
  state: BackendState;
  options: AppOptions;
  metrics: Metrics;
  /** request_id -> controller of a running /v1/generate, for POST /v1/generate/{id}/cancel. */
  generations: Map<string, AbortController>;
}

export type AppEnv = {
  Variables: {
    deps: AppDeps;
    /** The request body, read once under the size limit (signature and JSON parsing both need it). */
    rawBody: Uint8Array;
    /** Aborts when the client disconnects or the request times out. */
    signal: AbortSignal;
  };
};
