// A worker thread that hosts onnxruntime sessions (worker-thread.ts), so inference never blocks the
// server's event loop: onnxruntime-node 1.30 runs `session.run` synchronously on the calling thread
// (microsoft/onnxruntime#19611). Tensors cross the thread boundary by transfer, not copy.
import { Worker } from 'node:worker_threads';
import type { LogLevel } from '../log.ts';
import type { SessionConfig } from './device.ts';
import { type Feeds, GraphRunError, type Outputs } from './tensors.ts';
import {
  type HostReply,
  type HostRequest,
  type LoadedSession,
  transferList,
  type WorkerData,
} from './worker-protocol.ts';

/**
 * The file the worker thread starts from, next to the module that asks (`moduleUrl`, this module's
 * import.meta.url). Built (dist/, plain JavaScript; the build bundles this module into dist/main.js
 * and the thread's entry into dist/worker-thread.js): `worker-thread.js`, run by plain Node.
 * From source (tsx in development, vitest in tests): `dev-worker.mjs`, which registers tsx in the
 * new thread (a worker does not inherit the parent's loader) and imports `worker-thread.ts`.
 */
export function workerEntry(moduleUrl: string): URL {
  const fromSource = moduleUrl.endsWith('.ts');
  return new URL(fromSource ? './dev-worker.mjs' : './worker-thread.js', moduleUrl);
}

export class OrtHost {
  readonly #worker: Worker;
  readonly #calls = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void; label: string }
  >();
  #next = 1;
  #exited: Error | undefined;

  constructor(name: string, logLevel: LogLevel) {
    const workerData: WorkerData = { logLevel };
    this.#worker = new Worker(workerEntry(import.meta.url), { workerData, name: `ort ${name}` });
    this.#worker.unref();
    this.#worker.on('message', (reply: HostReply) => this.#settle(reply));
    this.#worker.on('error', (error) => this.#fail(error));
    this.#worker.on('exit', (code) => this.#fail(new Error(`ort worker ${name} exited with code ${code}`)));
  }

  load(path: string, label: string, config: SessionConfig): Promise<LoadedSession> {
    return this.#call(
      { id: this.#next++, op: 'load', path, label, config },
      [],
      label,
    ) as Promise<LoadedSession>;
  }

  run(session: number, label: string, feeds: Feeds): Promise<Outputs> {
    const sent = { ...feeds };
    const transfer = transferList(sent);
    return this.#call(
      { id: this.#next++, op: 'run', session, feeds: sent },
      transfer,
      label,
    ) as Promise<Outputs>;
  }

  async dispose(session: number): Promise<void> {
    await this.#call({ id: this.#next++, op: 'dispose', session }, [], 'dispose');
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }

  #call(request: HostRequest, transfer: ArrayBuffer[], label: string): Promise<unknown> {
    if (this.#exited !== undefined) return Promise.reject(this.#exited);
    return new Promise((resolve, reject) => {
      this.#calls.set(request.id, { resolve, reject, label });
      // Keep the process alive only while a call is pending.
      if (this.#calls.size === 1) this.#worker.ref();
      this.#worker.postMessage(request, transfer);
    });
  }

  #settle(reply: HostReply): void {
    const call = this.#calls.get(reply.id);
    if (call === undefined) return;
    this.#calls.delete(reply.id);
    if (this.#calls.size === 0) this.#worker.unref();
    if (reply.ok) {
      call.resolve(reply.result);
      return;
    }
    const { name, message } = reply.error;
    call.reject(name === 'GraphRunError' ? new GraphRunError(message, call.label) : new Error(message));
  }

  #fail(error: Error): void {
    this.#exited ??= error;
    for (const call of this.#calls.values()) call.reject(error);
    this.#calls.clear();
  }
}
