// A loaded ONNX graph as the rest of the backend sees it: a session in this thread (LocalSession) or
// in the model's ORT worker thread (OrtHost), with its input and output names and where it runs.

import type { SessionConfig } from './device.ts';
import { LocalSession } from './local-session.ts';
import type { Feeds, Outputs } from './tensors.ts';
import { GraphRunError } from './tensors.ts';
import type { OrtHost } from './worker-host.ts';

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
