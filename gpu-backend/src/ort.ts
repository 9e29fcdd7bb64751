// The one module that imports onnxruntime-node: device -> execution providers, session creation,
// checked runs. The rest of the backend sees only `Graph` and plain typed-array `HostTensor`s.
import * as ort from 'onnxruntime-node';
import { logger } from './log.ts';
import type { OrtHost } from './ort-host.ts';

export type Device = 'cpu' | 'cuda' | 'auto';

/** A tensor in host memory, as onnxruntime-node takes and returns them (no IO binding in Node). */
export type HostTensor =
  | { type: 'float32'; data: Float32Array; dims: readonly number[] }
  | { type: 'int64'; data: BigInt64Array; dims: readonly number[] };

export type Feeds = Record<string, HostTensor>;
export type Outputs = Record<string, HostTensor>;

export interface SessionConfig {
  device: Device;
  cudaDeviceId: number;
  /** 0 lets onnxruntime choose (one thread per physical core). */
  intraOpThreads: number;
  interOpThreads: number;
}

type ProviderList = readonly ort.InferenceSession.ExecutionProviderConfig[];

/**
 * Device -> execution providers, in the order onnxruntime tries them. `auto` is the only entry
 * that may end up on the CPU when CUDA is asked for and cannot load (see createGraph).
 */
const providerTable: Readonly<Record<Device, (cudaDeviceId: number) => ProviderList>> = Object.freeze({
  cpu: () => ['cpu'],
  cuda: (deviceId: number) => [{ name: 'cuda', deviceId }],
  auto: (deviceId: number) => [{ name: 'cuda', deviceId }, 'cpu'],
});

export const devices = Object.freeze(Object.keys(providerTable) as Device[]);

export function parseDevice(value: string): Device {
  if (!(devices as readonly string[]).includes(value)) {
    throw new Error(`'device' must be one of ${devices.join(', ')}, got '${value}'`);
  }
  return value as Device;
}

export function providersFor(device: Device, cudaDeviceId: number): ProviderList {
  const entry = providerTable[device];
  if (entry === undefined) throw new Error(`'device' must be one of ${devices.join(', ')}, got '${device}'`);
  return entry(cudaDeviceId);
}

/** onnxruntime's message without the terminal colour codes its logger adds. */
function reasonOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI escapes is the point
  return text.replace(/\x1b\[[0-9;]*m/g, '').trim();
}

export class GraphRunError extends Error {
  override readonly name = 'GraphRunError';
  constructor(
    message: string,
    readonly graph: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * One onnxruntime session in this thread. Used directly (in-process mode) or inside an ORT worker
 * thread (ort-worker.ts); `Graph` is what the rest of the backend holds.
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

/**
 * A loaded ONNX graph, in this thread or in an ORT worker thread (`host`). `run` checks the feeds
 * against the graph's inputs first and reports every missing or unknown name at once.
 */
export class Graph {
  #disposed = false;

  private constructor(
    readonly label: string,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    readonly providers: string,
    private readonly target: LocalSession | { host: OrtHost; id: number },
  ) {}

  /**
   * Loads `path`. With a `host`, the session lives in that worker thread, so runs never block this
   * thread's event loop (onnxruntime-node's `run` is synchronous on the calling thread).
   */
  static async load(path: string, label: string, config: SessionConfig, host?: OrtHost): Promise<Graph> {
    if (host === undefined) {
      const local = await LocalSession.create(path, label, config);
      return new Graph(label, local.inputNames, local.outputNames, local.providers, local);
    }
    const remote = await host.load(path, label, config);
    return new Graph(label, remote.inputNames, remote.outputNames, remote.providers, { host, id: remote.id });
  }

  /**
   * Runs the graph. With a worker host the feeds' buffers are transferred (zero-copy), so the
   * caller must not use the feed arrays afterwards.
   */
  async run(feeds: Feeds): Promise<Outputs> {
    if (this.#disposed) throw new GraphRunError(`graph ${this.label} was disposed`, this.label);
    const missing = this.inputNames.filter((name) => !(name in feeds));
    const unknown = Object.keys(feeds).filter((name) => !this.inputNames.includes(name));
    if (missing.length > 0 || unknown.length > 0) {
      throw new GraphRunError(
        `graph ${this.label}: missing inputs [${missing.join(', ')}], unknown inputs [${unknown.join(', ')}]; ` +
          `expected [${this.inputNames.join(', ')}]`,
        this.label,
      );
    }
    const target = this.target;
    if (target instanceof LocalSession) return target.run(feeds);
    return target.host.run(target.id, this.label, feeds);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const target = this.target;
    if (target instanceof LocalSession) await target.dispose();
    else await target.host.dispose(target.id);
  }
}

export function float32(data: Float32Array, dims: readonly number[]): HostTensor {
  return { type: 'float32', data, dims };
}

export function int64(data: BigInt64Array, dims: readonly number[]): HostTensor {
  return { type: 'int64', data, dims };
}

/** Reads an output, checking its element type, so callers get a typed array of the right kind. */
export function outputFloat32(
  outputs: Outputs,
  name: string,
  graph: string,
): { data: Float32Array; dims: readonly number[] } {
  const t = outputs[name];
  if (t === undefined) throw new GraphRunError(`graph ${graph} has no output '${name}'`, graph);
  if (t.type !== 'float32')
    throw new GraphRunError(`graph ${graph}: output '${name}' is ${t.type}, expected float32`, graph);
  return t;
}

export function outputInt64(
  outputs: Outputs,
  name: string,
  graph: string,
): { data: BigInt64Array; dims: readonly number[] } {
  const t = outputs[name];
  if (t === undefined) throw new GraphRunError(`graph ${graph} has no output '${name}'`, graph);
  if (t.type !== 'int64')
    throw new GraphRunError(`graph ${graph}: output '${name}' is ${t.type}, expected int64`, graph);
  return t;
}
