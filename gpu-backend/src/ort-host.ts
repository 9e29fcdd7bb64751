// A worker thread that hosts onnxruntime sessions (ort-worker.ts), so inference never blocks the
// server's event loop: onnxruntime-node 1.30 runs `session.run` synchronously on the calling thread
// (microsoft/onnxruntime#19611). Tensors cross the thread boundary by transfer, not copy.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LogLevel } from './log.ts';
import { type Feeds, GraphRunError, type HostTensor, type Outputs, type SessionConfig } from './ort.ts';

/** Messages to the worker. */
export type HostRequest =
  | { id: number; op: 'load'; path: string; label: string; config: SessionConfig }
  | { id: number; op: 'run'; session: number; feeds: Feeds }
  | { id: number; op: 'dispose'; session: number };

/** Messages from the worker. */
export type HostReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { name: string; message: string } };

export interface LoadedSession {
  id: number;
  inputNames: readonly string[];
  outputNames: readonly string[];
  providers: string;
}

/**
 * The ArrayBuffers to transfer for `tensors`. A typed array that is a view into a larger buffer is
 * replaced by a copy of just its view (transferring would detach memory others use; cloning would
 * copy the whole buffer).
 */
export function transferList(tensors: Record<string, HostTensor>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const [name, t] of Object.entries(tensors)) {
    const data = t.data;
    const whole =
      data.buffer instanceof ArrayBuffer &&
      data.byteOffset === 0 &&
      data.byteLength === data.buffer.byteLength;
    if (!whole || buffers.has(data.buffer as ArrayBuffer)) {
      tensors[name] = { ...t, data: data.slice() } as HostTensor;
    }
    buffers.add(tensors[name]!.data.buffer as ArrayBuffer);
  }
  return [...buffers];
}

/** File URL of tsx's ESM `tsx/esm/api` entry, read from its package exports (require.resolve picks the CJS one). */
function tsxEsmApi(): string {
  const manifestPath = createRequire(import.meta.url).resolve('tsx/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    exports: Record<string, { import: { default: string } }>;
  };
  const entry = manifest.exports['./esm/api']?.import.default;
  if (entry === undefined) throw new Error(`tsx at ${manifestPath} exports no ESM './esm/api'`);
  return pathToFileURL(path.join(path.dirname(manifestPath), entry)).href;
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
    // The worker runs TypeScript like the main thread: a two-line bootstrap registers tsx's loader
    // (resolved from here, so any working directory and the test runner work), then imports the entry.
    const tsxApi = tsxEsmApi();
    const entry = new URL('./ort-worker.ts', import.meta.url).href;
    const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
    this.#worker = new Worker(bootstrap, { eval: true, workerData: { logLevel }, name: `ort ${name}` });
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
