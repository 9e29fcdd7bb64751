// Where center_crop_arr runs: inline for small images, else on a small pool of worker threads, so a
// large photo's resampling (tens of ms of JavaScript) neither holds the event loop nor queues every
// other request's preprocessing behind it, and several images resample on several cores at once.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { centerCropArr, type RgbImage } from './pil-resample.ts';

export interface CropRequest {
  id: number;
  width: number;
  height: number;
  data: Uint8Array;
  size: number;
}

export type CropReply = { id: number; data: Uint8Array } | { id: number; error: string };

/** Below this many source pixels (a 512x512 image) the thread hop costs more than it saves. */
const INLINE_PIXELS = 512 * 512;
/** Threads in the pool: the cores beside the event loop's, at most 4 (ONNX Runtime needs cores too). */
const THREADS = Math.max(1, Math.min(4, availableParallelism() - 1));

/** The entry file: built (dist/resample-thread.js) or from source (tsx registered in the thread). */
function entry(): URL {
  const fromSource = import.meta.url.endsWith('.ts');
  return new URL(fromSource ? './dev-resample-thread.mjs' : './resample-thread.js', import.meta.url);
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (data: Uint8Array) => void; reject: (error: Error) => void }>;
}

let slots: Slot[] | undefined;
let nextId = 1;

function startSlot(index: number): Slot {
  const worker = new Worker(entry(), { name: `resample ${index}` });
  const slot: Slot = { worker, pending: new Map() };
  // The pool never keeps the process alive on its own; a pending crop does (ref below).
  worker.unref();
  worker.on('message', (reply: CropReply) => {
    const call = slot.pending.get(reply.id);
    if (!call) return;
    slot.pending.delete(reply.id);
    if (slot.pending.size === 0) worker.unref();
    if ('error' in reply) call.reject(new Error(reply.error));
    else call.resolve(reply.data);
  });
  const fail = (error: Error) => {
    for (const call of slot.pending.values()) call.reject(error);
    slot.pending.clear();
    // A dead thread is replaced at once ('error' and 'exit' both arrive; replace once).
    if (slots?.[index] === slot) slots[index] = startSlot(index);
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`resample thread ${index} exited with code ${code}`)));
  return slot;
}

/**
 * ADM's center_crop_arr of `rgb` to `size` x `size`: inline when small, else on the least busy pool
 * thread (the pixels copied once and transferred).
 */
export function cropRgb(rgb: RgbImage, size: number): Promise<Uint8Array> {
  if (rgb.width * rgb.height <= INLINE_PIXELS) return Promise.resolve(centerCropArr(rgb, size).data);
  slots ??= Array.from({ length: THREADS }, (_, i) => startSlot(i));
  const slot = slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
  const id = nextId++;
  // sharp's output lives in memory Node will not transfer, and cloning it is several times slower than
  // one copy into a fresh buffer, which then moves to the thread without another.
  const data = new Uint8Array(rgb.data.length);
  data.set(rgb.data);
  const request: CropRequest = { id, width: rgb.width, height: rgb.height, data, size };
  return new Promise((resolve, reject) => {
    slot.pending.set(id, { resolve, reject });
    slot.worker.ref();
    slot.worker.postMessage(request, [data.buffer]);
  });
}

/** Stops the pool's threads (the server's close); a later call starts new ones. */
export async function closeResamplePool(): Promise<void> {
  const running = slots ?? [];
  slots = undefined;
  await Promise.all(running.map((slot) => slot.worker.terminate()));
}
