// The messages between OrtHost (worker-host.ts) and the ORT worker thread (worker-thread.ts), and the
// transfer list that moves tensor buffers across instead of copying them.
import type { LogLevel } from '../log.ts';
import type { SessionConfig } from './device.ts';
import type { Feeds, HostTensor } from './tensors.ts';

/** What the worker thread is started with. */
export interface WorkerData {
  logLevel: LogLevel;
}

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
