// A dataset run on the DATASETS queue. POST /v1/datasets/{id}/run fixes the labels and the image order
// and sends the first message; each message reads its images' rows (one D1 query), runs their batches
// (encode-batch.ts: R2 reads, one backend call, R2 writes, a fenced D1 record) two at a time, so the
// writes of one batch overlap the backend's work on the next and the backend always has the next batch
// queued, up to MAX_BATCHES_PER_MESSAGE or BATCHES_WALL_MS, then sends the next message; the message that
// finds no image left writes the outputs (outputs.ts) and completes the dataset. The datasets queue
// delivers each message at once (max_batch_size 1 in wrangler.toml), so a hop costs milliseconds.
// Subrequests: a batch of 32 images (flip; fewer with ten_crop) makes at most 4 R2 operations per image
// (tokenize pointer get, then either the token set get of an image tokenized before, or image get, token
// set put and pointer put; grants go to D1 alone) and 3 D1 calls, so the 6 batches of a message stay
// under 800 with the message's own queries, under the budget of 1000 subrequests per invocation. The
// completing message reads the token sets from D1 (recordTokens keeps each image's GTOK bytes), in at
// most 20 page queries for the 20,000 rows a run may make, and writes 3 R2 objects: about 30
// subrequests with its claim, reads, completion and webhook event, whatever the image count.
// Messages carry the run_seq they were sent under: a cancel or a new run increments it, so a message of
// an older run changes nothing (store.ts fences every write), and cancel takes effect before the next
// batch starts (a batch already in flight finishes its content-addressed writes; its record is fenced).
// A duplicate delivery of a current message redoes at most that message's batches (the first copy to
// hand the run on wins): pointers and token sets are content-addressed.
// One message carries a run at a time: each names the chain value it was sent under (store.ts,
// FIRST_CHAIN), a message goes on only while its value is current, and handing the run to the next
// message moves the value on (passOnRun). A lost message (the first one's send failed, or a next-batch
// send) leaves the run queued or running with an old progressed_at (set by startRun, claimRun and
// recordTokens); the cron sweep moves the chain value on and re-sends the message under the new value
// (resendStalledRuns). Should the original still arrive (it waited in a backlog, or in its retries), it
// finds its value stale and is acked without work, so the run's batches are never run by two chains.
// The run's end (completed or failed) is written by one fenced UPDATE that only one consumer wins; the
// winner sends the dataset's webhook event, which the delivery log keeps unique per run and event.
import { ApiError, AUGMENTATION_VIEWS, ErrorCode, LIMITS } from '@gigatok/shared';
import { BackendError } from '../backend/host-request.ts';
import { emitDatasetEvent } from '../webhooks/delivery.ts';
import { batchImages, encodeBatch, prepareBatch, storeBatch } from './encode-batch.ts';
import { writeOutputs } from './outputs.ts';
import {
  allImages,
  claimRun,
  completeRun,
  type DatasetImage,
  type DatasetRecord,
  FIRST_CHAIN,
  failRun,
  getDataset,
  getTenantDataset,
  passOnRun,
  pendingImages,
  reclaimStalledRuns,
  recordTokens,
  startRun,
} from './store.ts';

export interface DatasetMessage {
  dataset_id: string;
  run_seq: number;
  /** The run's chain value it was sent under; messages sent before chains existed have none (FIRST_CHAIN). */
  chain?: number;
}

/** Sends the message that carries run `run_seq` of a dataset on, under chain value `chain`. */
async function sendRunMessage(env: Env, message: Required<DatasetMessage>): Promise<void> {
  await env.DATASETS.send(message, { contentType: 'json' });
}

/** The body of a datasets queue message, or null when it is not one. */
function datasetMessage(body: unknown): Required<DatasetMessage> | null {
  const b = body as Partial<DatasetMessage> | null;
  if (typeof b?.dataset_id !== 'string' || !Number.isInteger(b.run_seq)) return null;
  const chain = b.chain ?? FIRST_CHAIN;
  if (!Number.isInteger(chain)) return null;
  return { dataset_id: b.dataset_id, run_seq: b.run_seq!, chain };
}

/** How much one message runs before it hands the run on to the next message. */
export const MAX_BATCHES_PER_MESSAGE = 6;
export const BATCHES_WALL_MS = 20_000;
/** Batches of one message in flight at once: one is stored while the next is encoded. */
export const BATCHES_IN_FLIGHT = 2;

/** Delay before retry n (1-based) of a batch whose backend call failed: 10 s doubling, at most 5 min. */
const retryDelaySeconds = (attempt: number) => Math.min(10 * 2 ** (attempt - 1), 300);

const byCode = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Labels as ImageFolder assigns them: class folder names sorted, numbered from 0 ('folders'), or the
 * dataset's mapping. Image order: by class folder name, then by path (ImageFolder's sorted walk).
 */
export function labelling(
  dataset: DatasetRecord,
  images: readonly { name: string; className: string }[],
): { classes: Record<string, number>; order: string[] } {
  const names = [...new Set(images.map((i) => i.className))].sort(byCode);
  const classes =
    dataset.labels === 'folders'
      ? Object.fromEntries(names.map((name, i) => [name, i]))
      : Object.fromEntries(
          names.map((name) => [name, (dataset.labels as { mapping: Record<string, number> }).mapping[name]!]),
        );
  const order = [...images]
    .sort((a, b) => byCode(a.className, b.className) || byCode(a.name, b.name))
    .map((i) => i.name);
  return { classes, order };
}

/**
 * Starts (or resumes, after a cancel or a failure) the run of `dataset`; a dataset already queued,
 * running or completed is returned as it is. `started` says whether this call started it.
 */
export async function startDatasetRun(
  env: Env,
  dataset: DatasetRecord,
): Promise<{ dataset: DatasetRecord; started: boolean }> {
  if (dataset.status === 'queued' || dataset.status === 'running' || dataset.status === 'completed') {
    return { dataset, started: false };
  }
  if (dataset.imagesTotal === 0) {
    throw new ApiError(ErrorCode.conflict, `dataset '${dataset.id}' has no images: add some first`);
  }
  const rows = dataset.imagesTotal * AUGMENTATION_VIEWS[dataset.augmentation];
  if (rows > LIMITS.maxDatasetRows) {
    throw new ApiError(
      ErrorCode.invalid_parameter,
      `a run makes at most ${LIMITS.maxDatasetRows} rows (images x augmentation rows); this dataset would make ${rows}`,
      { field: 'augmentation', limit: LIMITS.maxDatasetRows },
    );
  }
  const { classes, order } = labelling(dataset, await allImages(env.DB, dataset.id));
  const started = await startRun(env.DB, dataset, classes, order);
  if (!started) {
    const now = await getTenantDataset(env.DB, dataset.tenantId, dataset.id);
    return { dataset: now ?? dataset, started: false };
  }
  await sendRunMessage(env, { dataset_id: started.id, run_seq: started.runSeq, chain: FIRST_CHAIN });
  return { dataset: started, started: true };
}

/**
 * One batch: its R2 reads, the backend call, the token sets, pointers and grants, then the record
 * under `runSeq`. False when the run was canceled or replaced meanwhile (the record is fenced).
 */
async function runBatch(
  env: Env,
  dataset: DatasetRecord,
  runSeq: number,
  images: readonly DatasetImage[],
): Promise<boolean> {
  const t0 = Date.now();
  const prepared = await prepareBatch(env, dataset, images);
  const t1 = Date.now();
  const rows = await encodeBatch(env, dataset, prepared);
  const t2 = Date.now();
  const tokens = await storeBatch(env, dataset, prepared, rows);
  const recorded = await recordTokens(env.DB, dataset.id, runSeq, tokens);
  console.log(
    JSON.stringify({
      message: 'dataset batch',
      dataset: dataset.id,
      run_seq: runSeq,
      images: images.length,
      sent: prepared.missing.length,
      prepare_ms: t1 - t0,
      encode_ms: t2 - t1,
      store_ms: Date.now() - t2,
    }),
  );
  return recorded;
}

/** Batches of a run (or its completion); see the module comment. */
export async function runDatasetBatch(env: Env, message: Message<DatasetMessage>): Promise<void> {
  const body = datasetMessage(message.body);
  if (body === null) {
    console.error(JSON.stringify({ message: 'malformed dataset message dropped', id: message.id }));
    message.ack();
    return;
  }
  const { dataset_id: id, run_seq: runSeq, chain } = body;
  if (!(await claimRun(env.DB, id, runSeq, chain))) {
    message.ack();
    return;
  }
  const dataset = (await getDataset(env.DB, id))!;
  const began = Date.now();
  const perBatch = batchImages(LIMITS.maxBackendBatch, AUGMENTATION_VIEWS[dataset.augmentation]);
  try {
    const pending = await pendingImages(env.DB, id, perBatch * MAX_BATCHES_PER_MESSAGE);
    if (pending.length === 0) {
      const outputs = await writeOutputs(env, dataset, await allImages(env.DB, id));
      const completed = await completeRun(env.DB, id, runSeq, outputs);
      if (completed) await emitDatasetEvent(env, completed, 'dataset.completed');
      message.ack();
      return;
    }
    let next = 0;
    let current = true;
    // Each lane takes the next batch until none is left, the run stops being current, or the message
    // has run long enough; a cancel or a newer run is seen before a batch starts (the first batch was
    // claimed above).
    const lane = async () => {
      while (current && next < pending.length && Date.now() - began < BATCHES_WALL_MS) {
        const start = next;
        next += perBatch;
        if (start > 0 && !(await claimRun(env.DB, id, runSeq, chain))) {
          current = false;
          return;
        }
        if (!(await runBatch(env, dataset, runSeq, pending.slice(start, start + perBatch)))) current = false;
      }
    };
    const lanes = await Promise.allSettled(Array.from({ length: BATCHES_IN_FLIGHT }, lane));
    const failed = lanes.find((lane) => lane.status === 'rejected');
    if (failed) throw failed.reason;
    // The next message goes on with the run; the one that finds no image left completes it.
    const nextChain = current ? await passOnRun(env.DB, id, runSeq, chain) : null;
    if (nextChain !== null) await sendRunMessage(env, { dataset_id: id, run_seq: runSeq, chain: nextChain });
    message.ack();
  } catch (error) {
    const retryable = error instanceof BackendError ? error.retryable : !(error instanceof ApiError);
    if (retryable) {
      console.error(JSON.stringify({ message: 'dataset batch failed', dataset: id, error: String(error) }));
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
      return;
    }
    const failed = await failRun(env.DB, id, runSeq, chain, (error as ApiError).toProblem());
    if (failed) await emitDatasetEvent(env, failed, 'dataset.failed');
    message.ack();
  }
}

/**
 * Re-sends the queue message of each run queued or running that has not progressed for `stalledForMs`
 * (at most `limit`, one sendBatch); returns how many were sent.
 */
export async function resendStalledRuns(env: Env, stalledForMs: number, limit: number): Promise<number> {
  const now = Date.now();
  const runs = await reclaimStalledRuns(env.DB, now - stalledForMs, limit, now);
  if (runs.length === 0) return 0;
  await env.DATASETS.sendBatch(
    runs.map((run) => ({
      body: { dataset_id: run.id, run_seq: run.runSeq, chain: run.chain } satisfies DatasetMessage,
      contentType: 'json' as const,
    })),
  );
  return runs.length;
}

/**
 * After the last retry of a batch: the run fails, unless it moved on meanwhile (a newer run, or a
 * message the sweep re-sent: the dead message's chain value is then stale).
 */
export async function deadLetterDataset(env: Env, message: Message<DatasetMessage>): Promise<void> {
  const body = datasetMessage(message.body);
  if (body === null) {
    message.ack();
    return;
  }
  const failed = await failRun(
    env.DB,
    body.dataset_id,
    body.run_seq,
    body.chain,
    new ApiError(
      ErrorCode.backend_unavailable,
      'the backend stayed unavailable through every retry of a batch',
    ).toProblem(),
  );
  if (failed) await emitDatasetEvent(env, failed, 'dataset.failed');
  message.ack();
}
