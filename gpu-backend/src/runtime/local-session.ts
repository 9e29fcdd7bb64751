// The one module that imports onnxruntime-node: one session in this thread, created on the
// configured device and run with checked, logged failures. In-process mode uses it directly; in worker
// mode it runs inside the ORT worker thread (worker-thread.ts). The rest of the backend holds `Graph`s.
import * as ort from 'onnxruntime-node';
import { logger } from '../log.ts';
import { providersFor, type SessionConfig } from './device.ts';
import { type Feeds, GraphRunError, type Outputs } from './tensors.ts';

/** onnxruntime's message without the terminal colour codes its logger adds. */
export function reasonOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI escapes is the point
  return text.replace(/\x1b\[[0-9;]*m/g, '').trim();
}

/**
 * One onnxruntime session in this thread. Used directly (in-process mode) or inside an ORT worker
 * thread (worker-thread.ts); `Graph` (graph.ts) is what the rest of the backend holds.
 */
export class LocalSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  #session: ort.InferenceSession | undefined;

  private constructor(
    readonly label: string,
    session: ort.InferenceSession,
    readonly providers: string,
  ) {
    this.#session = session;
    this.inputNames = session.inputNames;
    this.outputNames = session.outputNames;
  }

  /**
   * Creates a session for `path`. A requested `cuda` that cannot load is an error with onnxruntime's
   * reason; only `auto` falls back to the CPU, and says so in the log.
   */
  static async create(path: string, label: string, config: SessionConfig): Promise<LocalSession> {
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: config.intraOpThreads,
      interOpNumThreads: config.interOpThreads,
      logSeverityLevel: 3,
    };
    const providers = providersFor(config.device, config.cudaDeviceId);
    if (config.device === 'auto') {
      try {
        const session = await ort.InferenceSession.create(path, { ...base, executionProviders: providers });
        return new LocalSession(label, session, `cuda:${config.cudaDeviceId}`);
      } catch (error) {
        logger.warn('device auto: CUDA provider failed to load, using the CPU', {
          graph: label,
          reason: reasonOf(error),
        });
        const session = await ort.InferenceSession.create(path, { ...base, executionProviders: ['cpu'] });
        return new LocalSession(label, session, 'cpu');
      }
    }
    try {
      const session = await ort.InferenceSession.create(path, { ...base, executionProviders: providers });
      return new LocalSession(
        label,
        session,
        config.device === 'cuda' ? `cuda:${config.cudaDeviceId}` : 'cpu',
      );
    } catch (error) {
      throw new Error(`cannot create a ${config.device} session for ${label} (${path}): ${reasonOf(error)}`, {
        cause: error,
      });
    }
  }

  /** Runs the session; a failed run logs names, dtypes and dims (never the data) and rethrows. */
  async run(feeds: Feeds): Promise<Outputs> {
    const session = this.#session;
    if (session === undefined) throw new GraphRunError(`graph ${this.label} was disposed`, this.label);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await session.run(ortFeeds);
    } catch (error) {
      logger.error('onnxruntime run failed', {
        graph: this.label,
        inputs: Object.entries(feeds).map(([name, t]) => ({ name, type: t.type, dims: t.dims })),
        reason: reasonOf(error),
      });
      throw new GraphRunError(`graph ${this.label} failed: ${reasonOf(error)}`, this.label, { cause: error });
    }
    const out: Outputs = {};
    for (const [name, value] of Object.entries(results)) {
      const tensor = value as ort.Tensor;
      if (tensor.type === 'float32') {
        out[name] = { type: 'float32', data: tensor.data as Float32Array, dims: tensor.dims };
      } else if (tensor.type === 'int64') {
        // onnxruntime-node hands int64 back as BigInt64Array.
        out[name] = { type: 'int64', data: tensor.data as BigInt64Array, dims: tensor.dims };
      } else {
        throw new GraphRunError(
          `graph ${this.label}: output '${name}' has unsupported type ${tensor.type}`,
          this.label,
        );
      }
    }
    return out;
  }

  async dispose(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    if (session !== undefined) await session.release();
  }
}
