// The backend process: reads the configuration, starts listening at once (readyz answers 503
// `loading`), loads and warms the models, then serves; SIGTERM/SIGINT drain it gracefully.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createApp } from './app.ts';
import type { Config } from './config.ts';
import type { AppDeps, BackendState } from './context.ts';
import type { StepMode } from './generation/step-runner.ts';
import { closeResamplePool } from './images/resample-pool.ts';
import { logger, setLogLevel } from './log.ts';
import { Metrics } from './metrics.ts';
import { loadModel } from './model-dir/loader.ts';
import { ModelService } from './service/model-service.ts';

export interface RunningServer {
  url: string;
  port: number;
  state: BackendState;
  deps: AppDeps;
  /** Resolves once every model is loaded (rejects if one fails). */
  loaded: Promise<void>;
  /** Stops accepting connections, lets in-flight requests finish (up to the shutdown timeout), frees the models. */
  close: () => Promise<void>;
}

export async function startServer(
  config: Config,
  options: { stepMode?: StepMode } = {},
): Promise<RunningServer> {
  setLogLevel(config.logLevel);
  const metrics = new Metrics();
  const state: BackendState = { status: 'loading', models: new Map() };
  const deps: AppDeps = {
    state,
    metrics,
    generations: new Map(),
    options: {
      secrets: config.secrets,
      insecureDev: config.insecureDev,
      maxBodyBytes: config.maxBodyBytes,
      requestTimeoutMs: config.requestTimeoutMs,
    },
  };
  if (config.insecureDev && config.secrets.length === 0) {
    logger.warn('GIGATOK_INSECURE_DEV=1 and no GIGATOK_BACKEND_SECRET: requests are NOT authenticated');
  }
  const app = createApp(deps);
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const server = serve({
    fetch: async (request, env) => {
      inFlight += 1;
      try {
        return await app.fetch(request, env);
      } finally {
        inFlight -= 1;
        if (inFlight === 0) idle?.();
      }
    },
    port: config.port,
    hostname: config.host,
  });
  // Node's own guards against slow clients; the per-request inference timeout is in the app.
  if ('requestTimeout' in server) {
    server.requestTimeout = config.requestTimeoutMs + 10_000;
    server.headersTimeout = 30_000;
  }
  await new Promise<void>((resolve, reject) => {
    if (server.listening) resolve();
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  logger.info('listening', { url, device: config.device });

  const loaded = (async () => {
    for (const dir of config.modelDirs) {
      const generate = {
        generatePath: config.generatePath,
        chunkSteps: config.chunkSteps,
        stepMode: options.stepMode ?? 'kv',
      } as const;
      const model = await loadModel(dir, {
        ...generate,
        device: config.device,
        cudaDeviceId: config.cudaDeviceId,
        intraOpThreads: config.intraOpThreads,
        interOpThreads: config.interOpThreads,
        warmup: config.warmup,
        worker: config.ortWorker,
        logLevel: config.logLevel,
      });
      if (state.models.has(model.id)) throw new Error(`model id ${model.id} is loaded twice (${dir})`);
      state.models.set(
        model.id,
        new ModelService(model, {
          ...generate,
          batching: {
            maxBatch: config.maxBatch,
            encodeMaxBatch: config.encodeMaxBatch,
            maxQueueDelayMs: config.maxQueueDelayMs,
            maxQueue: config.maxQueue,
            maxActiveBatches: config.maxActiveBatches,
            chunkSteps: config.chunkSteps,
          },
          limits: { maxImageBytes: config.maxImageBytes, maxImagePixels: config.maxImagePixels },
          metrics,
        }),
      );
    }
    if (state.status !== 'loading') return; // shutdown began while loading
    state.status = 'ready';
    logger.info('ready', { models: [...state.models.keys()] });
  })();
  loaded.catch((error: unknown) => {
    state.status = 'failed';
    logger.error('model loading failed', { error: error instanceof Error ? error.message : String(error) });
  });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      state.status = 'draining';
      const deadline = Date.now() + config.shutdownTimeoutMs;
      // Stop accepting; close() resolves once every connection has ended.
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections go idle after their last response; close them as they do, and cut the
      // rest at the shutdown deadline.
      const reaper = setInterval(() => {
        if ('closeIdleConnections' in server) server.closeIdleConnections();
        if (Date.now() > deadline && 'closeAllConnections' in server) server.closeAllConnections();
      }, 25);
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => {
            idle = resolve;
          }),
          new Promise<void>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref()),
        ]);
      }
      await stopped;
      clearInterval(reaper);
      await loaded.catch(() => {});
      for (const service of state.models.values()) await service.close();
      await closeResamplePool();
      logger.info('stopped');
    })();
    return closing;
  };
  return { url, port: address.port, state, deps, loaded, close };
}
