// Datasets and their images in D1 (migrations/0004_datasets.sql, 0007_dataset_tokens_and_sweep.sql,
// 0008_dataset_message_chain.sql).
// Every read is scoped to a tenant; run state changes are fenced by run_seq (a consumer holding an older
// value changes nothing). Each image row keeps its token set's GTOK bytes once recorded, so the outputs
// are built from D1 pages; progressed_at says when a queued or running run last moved, for the cron
// sweep (reclaimStalledRuns), and `chain` which queue message carries the run (FIRST_CHAIN).
import type { Augmentation, DatasetLabels, DatasetStatus, PreprocessingMode, Problem } from '@gigatok/shared';
import type { ListCursor } from '../http/cursor.ts';
import type { WebhookTarget } from '../webhooks/subscription.ts';

export interface OutputFile {
  key: string;
  sha256: string;
  bytes: number;
}

export interface DatasetOutputs {
  codes: OutputFile;
  tar: OutputFile;
  manifest: OutputFile;
}

export interface DatasetRecord {
  id: string;
  tenantId: string;
  name: string;
  model: string;
  augmentation: Augmentation;
  preprocessing: PreprocessingMode;
  labels: DatasetLabels;
  classes: Record<string, number> | null;
  status: DatasetStatus;
  imagesTotal: number;
  imagesDone: number;
  runSeq: number;
  error: Problem | null;
  outputs: DatasetOutputs | null;
  /** Where the run's final event is sent (migrations/0005_dataset_webhooks.sql); null for none. */
  webhook: WebhookTarget | null;
  createdAt: number;
  completedAt: number | null;
}

interface DatasetRow {
  id: string;
  tenant_id: string;
  name: string;
  model: string;
  augmentation: Augmentation;
  preprocessing: PreprocessingMode;
  labels: string;
  classes: string | null;
  status: DatasetStatus;
  images_total: number;
  images_done: number;
  run_seq: number;
  error: string | null;
  outputs: string | null;
  webhook_url: string | null;
  webhook_events: string | null;
  created_at: number;
  completed_at: number | null;
}

function fromRow(row: DatasetRow): DatasetRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    model: row.model,
    augmentation: row.augmentation,
    preprocessing: row.preprocessing,
    labels: JSON.parse(row.labels) as DatasetLabels,
    classes: row.classes ? (JSON.parse(row.classes) as Record<string, number>) : null,
    status: row.status,
    imagesTotal: row.images_total,
    imagesDone: row.images_done,
    runSeq: row.run_seq,
    error: row.error ? (JSON.parse(row.error) as Problem) : null,
    outputs: row.outputs ? (JSON.parse(row.outputs) as DatasetOutputs) : null,
    webhook:
      row.webhook_url === null
        ? null
        : { url: row.webhook_url, events: JSON.parse(row.webhook_events ?? '[]') as string[] },
    createdAt: row.created_at,
    completedAt: row.completed_at,
  };
}

export async function insertDataset(
  db: D1Database,
  dataset: Pick<
    DatasetRecord,
    'id' | 'tenantId' | 'name' | 'model' | 'augmentation' | 'preprocessing' | 'labels' | 'webhook'
  >,
): Promise<DatasetRecord> {
  const row = await db
    .prepare(
      `INSERT INTO datasets (id, tenant_id, name, model, augmentation, preprocessing, labels, webhook_url,
         webhook_events, status, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?) RETURNING *`,
    )
    .bind(
      dataset.id,
      dataset.tenantId,
      dataset.name,
      dataset.model,
      dataset.augmentation,
      dataset.preprocessing,
      JSON.stringify(dataset.labels),
      dataset.webhook?.url ?? null,
      dataset.webhook ? JSON.stringify(dataset.webhook.events) : null,
      Date.now(),
    )
    .first<DatasetRow>();
  return fromRow(row!);
}

/** The dataset if `tenantId` owns it; another tenant's id reads as absent. */
export async function getTenantDataset(
  db: D1Database,
  tenantId: string,
  id: string,
): Promise<DatasetRecord | null> {
  const row = await db
    .prepare('SELECT * FROM datasets WHERE id = ? AND tenant_id = ?')
    .bind(id, tenantId)
    .first<DatasetRow>();
  return row ? fromRow(row) : null;
}

export async function getDataset(db: D1Database, id: string): Promise<DatasetRecord | null> {
  const row = await db.prepare('SELECT * FROM datasets WHERE id = ?').bind(id).first<DatasetRow>();
  return row ? fromRow(row) : null;
}

export async function listTenantDatasets(
  db: D1Database,
  tenantId: string,
  limit: number,
  after: ListCursor | null,
): Promise<{ datasets: DatasetRecord[]; next: ListCursor | null }> {
  const { results } = await db
    .prepare(
      `SELECT * FROM datasets WHERE tenant_id = ?1
         AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id < ?3))
       ORDER BY created_at DESC, id DESC LIMIT ?4`,
    )
    .bind(tenantId, after?.createdAt ?? null, after?.id ?? null, limit + 1)
    .all<DatasetRow>();
  const datasets = results.slice(0, limit).map(fromRow);
  const last = datasets.at(-1);
  return {
    datasets,
    next: results.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null,
  };
}

export interface NewImage {
  name: string;
  className: string;
  sha256: string;
}

/**
 * Adds images to an open dataset; a name already there is kept as it was, and nothing is added once the
 * dataset has left 'open' (a run started meanwhile). Returns how many were added and the image count.
 */
export async function addImages(
  db: D1Database,
  datasetId: string,
  images: readonly NewImage[],
): Promise<{ added: number; total: number }> {
  const insert = db.prepare(
    `INSERT INTO dataset_images (dataset_id, name, class_name, image_sha256)
     SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM datasets WHERE id = ?1 AND status = 'open')
     ON CONFLICT DO NOTHING`,
  );
  let added = 0;
  for (let i = 0; i < images.length; i += 500) {
    const results = await db.batch(
      images
        .slice(i, i + 500)
        .map((image) => insert.bind(datasetId, image.name, image.className, image.sha256)),
    );
    for (const result of results) added += result.meta.changes;
  }
  const counted = await db
    .prepare(
      `UPDATE datasets SET images_total = (SELECT COUNT(*) FROM dataset_images WHERE dataset_id = ?1)
       WHERE id = ?1 RETURNING images_total`,
    )
    .bind(datasetId)
    .first<{ images_total: number }>();
  return { added, total: counted?.images_total ?? 0 };
}

export interface DatasetImage {
  name: string;
  className: string;
  sha256: string;
  idx: number | null;
  tokenId: string | null;
}

/** The columns of an image row, without its token bytes (read in pages by imageTokenPage). */
const IMAGE_COLUMNS = 'name, class_name, image_sha256, idx, token_id';

interface ImageRow {
  name: string;
  class_name: string;
  image_sha256: string;
  idx: number | null;
  token_id: string | null;
}

const imageFromRow = (row: ImageRow): DatasetImage => ({
  name: row.name,
  className: row.class_name,
  sha256: row.image_sha256,
  idx: row.idx,
  tokenId: row.token_id,
});

export async function allImages(db: D1Database, datasetId: string): Promise<DatasetImage[]> {
  const { results } = await db
    .prepare(`SELECT ${IMAGE_COLUMNS} FROM dataset_images WHERE dataset_id = ? ORDER BY idx, name`)
    .bind(datasetId)
    .all<ImageRow>();
  return results.map(imageFromRow);
}

/** The next `limit` images without tokens, in image order. */
export async function pendingImages(
  db: D1Database,
  datasetId: string,
  limit: number,
): Promise<DatasetImage[]> {
  const { results } = await db
    .prepare(
      `SELECT ${IMAGE_COLUMNS} FROM dataset_images WHERE dataset_id = ? AND token_id IS NULL ORDER BY idx LIMIT ?`,
    )
    .bind(datasetId, limit)
    .all<ImageRow>();
  return results.map(imageFromRow);
}

/**
 * Starts a run of an open, canceled or failed dataset: fixes the classes and the image order, moves it
 * to queued under a new run_seq. Null when the dataset was not in a startable state.
 */
export async function startRun(
  db: D1Database,
  dataset: DatasetRecord,
  classes: Record<string, number>,
  order: readonly string[],
): Promise<DatasetRecord | null> {
  const setIdx = db.prepare('UPDATE dataset_images SET idx = ? WHERE dataset_id = ? AND name = ?');
  for (let i = 0; i < order.length; i += 500) {
    await db.batch(order.slice(i, i + 500).map((name, j) => setIdx.bind(i + j, dataset.id, name)));
  }
  const row = await db
    .prepare(
      `UPDATE datasets SET status = 'queued', run_seq = run_seq + 1, classes = ?2, error = NULL,
         images_done = (SELECT COUNT(*) FROM dataset_images WHERE dataset_id = ?1 AND token_id IS NOT NULL),
         progressed_at = ?4, chain = ?5
       WHERE id = ?1 AND run_seq = ?3 AND status IN ('open', 'canceled', 'failed') RETURNING *`,
    )
    .bind(dataset.id, JSON.stringify(classes), dataset.runSeq, Date.now(), FIRST_CHAIN)
    .first<DatasetRow>();
  return row ? fromRow(row) : null;
}

/**
 * The chain of a run's queue messages: a run is carried by one message at a time, and each message names
 * the `chain` value it was sent under. A message goes on with the run only while its value is current.
 * Passing the run on to the next message (passOnRun) and the cron sweep's re-send (reclaimStalledRuns)
 * move the value on, so a message left behind (an original that arrives after its re-send) changes
 * nothing, and a run never has two chains of messages working on it. startRun sets it to FIRST_CHAIN.
 */
export const FIRST_CHAIN = 0;

/**
 * Marks a queued or running dataset as running under `runSeq`, for the message of chain value `chain`;
 * false when the run or the message is not current.
 */
export async function claimRun(db: D1Database, id: string, runSeq: number, chain: number): Promise<boolean> {
  const result = await db
    .prepare(
      `UPDATE datasets SET status = 'running', progressed_at = ?
       WHERE id = ? AND run_seq = ? AND chain = ? AND status IN ('queued', 'running')`,
    )
    .bind(Date.now(), id, runSeq, chain)
    .run();
  return result.meta.changes === 1;
}

/**
 * Hands the run from the message of chain value `chain` to a next one: the new value to send it under,
 * or null when the message is no longer current (nothing is to be sent).
 */
export async function passOnRun(
  db: D1Database,
  id: string,
  runSeq: number,
  chain: number,
): Promise<number | null> {
  const row = await db
    .prepare(
      `UPDATE datasets SET chain = chain + 1
       WHERE id = ? AND run_seq = ? AND chain = ? AND status IN ('queued', 'running') RETURNING chain`,
    )
    .bind(id, runSeq, chain)
    .first<{ chain: number }>();
  return row?.chain ?? null;
}

/**
 * Records the token sets of finished images (id and GTOK bytes, in the same statement) and the
 * progress, fenced by `runSeq`.
 */
export async function recordTokens(
  db: D1Database,
  id: string,
  runSeq: number,
  tokens: readonly { name: string; tokenId: string; gtok: Uint8Array }[],
): Promise<boolean> {
  const set = db.prepare(
    `UPDATE dataset_images SET token_id = ?3, tokens = ?5 WHERE dataset_id = ?1 AND name = ?2
       AND EXISTS (SELECT 1 FROM datasets WHERE id = ?1 AND run_seq = ?4 AND status = 'running')`,
  );
  const progress = db.prepare(
    `UPDATE datasets SET images_done = (SELECT COUNT(*) FROM dataset_images WHERE dataset_id = ?1 AND token_id IS NOT NULL),
       progressed_at = ?3
     WHERE id = ?1 AND run_seq = ?2 AND status = 'running'`,
  );
  const now = Date.now();
  const results = await db.batch([
    ...tokens.map((t) => set.bind(id, t.name, t.tokenId, runSeq, t.gtok)),
    progress.bind(id, runSeq, now),
  ]);
  return results.at(-1)!.meta.changes === 1;
}

/** Completes the run under `runSeq`; the dataset as written, or null when the run was not current. */
export async function completeRun(
  db: D1Database,
  id: string,
  runSeq: number,
  outputs: DatasetOutputs,
): Promise<DatasetRecord | null> {
  const row = await db
    .prepare(
      `UPDATE datasets SET status = 'completed', outputs = ?, completed_at = ?
       WHERE id = ? AND run_seq = ? AND status = 'running' RETURNING *`,
    )
    .bind(JSON.stringify(outputs), Date.now(), id, runSeq)
    .first<DatasetRow>();
  return row ? fromRow(row) : null;
}

/** Fails the run under `runSeq`; the dataset as written, or null when the run was not current. */
export async function failRun(
  db: D1Database,
  id: string,
  runSeq: number,
  chain: number,
  problem: Problem,
): Promise<DatasetRecord | null> {
  const row = await db
    .prepare(
      `UPDATE datasets SET status = 'failed', error = ?, completed_at = ?
       WHERE id = ? AND run_seq = ? AND chain = ? AND status IN ('queued', 'running') RETURNING *`,
    )
    .bind(JSON.stringify(problem), Date.now(), id, runSeq, chain)
    .first<DatasetRow>();
  return row ? fromRow(row) : null;
}

/** Cancels a queued or running dataset (a new run_seq fences out its messages); null if it was neither. */
export async function cancelRun(db: D1Database, tenantId: string, id: string): Promise<DatasetRecord | null> {
  const row = await db
    .prepare(
      `UPDATE datasets SET status = 'canceled', run_seq = run_seq + 1
       WHERE id = ? AND tenant_id = ? AND status IN ('queued', 'running') RETURNING *`,
    )
    .bind(id, tenantId)
    .first<DatasetRow>();
  return row ? fromRow(row) : null;
}

/** An image's place and token set: the GTOK bytes, or null for a row recorded before D1 kept them. */
export interface ImageTokens {
  idx: number;
  tokenId: string;
  gtok: Uint8Array | null;
}

/** D1 answers a BLOB as an array of bytes (or an ArrayBuffer); null stays null. */
const blobBytes = (value: ArrayBuffer | number[] | null): Uint8Array | null =>
  value === null ? null : value instanceof ArrayBuffer ? new Uint8Array(value) : Uint8Array.from(value);

/** Up to `limit` tokenized images from `fromIdx` on, in image order, with their token bytes. */
export async function imageTokenPage(
  db: D1Database,
  datasetId: string,
  fromIdx: number,
  limit: number,
): Promise<ImageTokens[]> {
  const { results } = await db
    .prepare(
      `SELECT idx, token_id, tokens FROM dataset_images
       WHERE dataset_id = ? AND idx >= ? AND token_id IS NOT NULL ORDER BY idx LIMIT ?`,
    )
    .bind(datasetId, fromIdx, limit)
    .all<{ idx: number; token_id: string; tokens: ArrayBuffer | number[] | null }>();
  return results.map((row) => ({ idx: row.idx, tokenId: row.token_id, gtok: blobBytes(row.tokens) }));
}

/**
 * Runs queued or running whose progressed_at is before `stalledBefore` (their queue message was lost,
 * or waits in a backlog), at most `limit`, oldest first. In the same statement their progressed_at moves
 * to `now`, so the next sweep waits as long again, and their chain value moves on, so the re-sent
 * message (sent under the returned value) is the only one that goes on with the run.
 */
export async function reclaimStalledRuns(
  db: D1Database,
  stalledBefore: number,
  limit: number,
  now = Date.now(),
): Promise<{ id: string; runSeq: number; chain: number }[]> {
  const { results } = await db
    .prepare(
      `UPDATE datasets SET progressed_at = ?1, chain = chain + 1
       WHERE id IN (SELECT id FROM datasets WHERE status IN ('queued', 'running') AND progressed_at < ?2
                    ORDER BY progressed_at LIMIT ?3)
       RETURNING id, run_seq, chain`,
    )
    .bind(now, stalledBefore, limit)
    .all<{ id: string; run_seq: number; chain: number }>();
  return results.map((row) => ({ id: row.id, runSeq: row.run_seq, chain: row.chain }));
}
