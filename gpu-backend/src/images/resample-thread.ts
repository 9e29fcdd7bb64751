// The resampling worker thread's entry (resample-pool.ts starts it): ADM's center_crop_arr on decoded
// RGB pixels, off the server's event loop. Pixels arrive and leave by transfer where Node allows it.
import { parentPort } from 'node:worker_threads';
import { centerCropArr } from './pil-resample.ts';
import type { CropReply, CropRequest } from './resample-pool.ts';

const port = parentPort;
if (!port) throw new Error('resample-thread.ts runs as a worker thread only');

port.on('message', (request: CropRequest) => {
  let reply: CropReply;
  try {
    const { data } = centerCropArr(
      { width: request.width, height: request.height, data: request.data },
      request.size,
    );
    reply = { id: request.id, data };
    port.postMessage(reply, [data.buffer as ArrayBuffer]);
  } catch (error) {
    reply = { id: request.id, error: error instanceof Error ? error.message : String(error) };
    port.postMessage(reply);
  }
});
