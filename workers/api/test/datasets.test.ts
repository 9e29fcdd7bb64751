// /v1/datasets: uploads (ImageFolder tar, multipart), labels, a run through the local DATASETS queue to
// completion, the three outputs against per-image tokenize answers, conditional GETs, idempotency per
// image, cancel and resume, tenant isolation and bad input; the outputs built from the token bytes D1
// keeps (no R2 read per image), and the cron sweep re-sending the message of a stalled run.
import { env } from 'cloudflare:workers';
import { decodeTokens, LIMITS, readTar, TOKENS_MEDIA_TYPE, tokenRows, writeTar } from '@gigatok/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeOutputs } from '../src/lib/datasets/outputs.ts';
import { labelling } from '../src/lib/datasets/run.ts';
import {
  allImages,
  FIRST_CHAIN,
  getDataset,
  reclaimStalledRuns,
  startRun,
} from '../src/lib/datasets/store.ts';
import { tokensKey } from '../src/lib/storage/artifacts.ts';
import { QUEUES } from '../src/queue.ts';
import { scheduled, UNCLAIMED_AFTER_MS } from '../src/scheduled.ts';
import { backend, NANO, stubTokens } from './backend-stub.ts';
import { api, newTenant, postJson, runQueue, type TestKey, testPng, waitFor } from './helpers.ts';

let alice: TestKey;
let bob: TestKey;
let seed = 50_000;

// Fresh tenants per test: each API key has a rate limit of 50 requests a minute here.
beforeEach(async () => {
  alice = await newTenant('alice');
  bob = await newTenant('bob');
});

afterEach(() => {
  backend.mode = 'up';
});

interface DatasetBody {
  id: string;
  status: string;
  augmentation: string;
  rows_per_image: number;
  classes: Record<string, number> | null;
  progress: { images_done: number; images_total: number };
  error: { code: string; detail: string } | null;
}

/** An ImageFolder of `perClass` fresh PNGs in each of `classes`, as archive entries. */
function imageFolder(classes: readonly string[], perClass: number) {
  return classes.flatMap((name) =>
    Array.from({ length: perClass }, (_, i) => ({
      name: `${name}/${String(i).padStart(3, '0')}.png`,
      bytes: testPng(seed++),
    })),
  );
}

async function create(key: TestKey, body: Record<string, unknown>): Promise<DatasetBody> {
  const response = await postJson(key.key, '/v1/datasets', body);
  expect(response.status).toBe(201);
  return (await response.json()) as DatasetBody;
}

function addTar(key: TestKey, id: string, archive: Uint8Array) {
  return api(key.key, `/v1/datasets/${id}/images`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-tar' },
    body: archive as Uint8Array<ArrayBuffer>,
  });
}

async function get(key: TestKey, id: string): Promise<DatasetBody> {
  return (await (await api(key.key, `/v1/datasets/${id}`)).json()) as DatasetBody;
}

async function runToEnd(key: TestKey, id: string): Promise<DatasetBody> {
  const started = await api(key.key, `/v1/datasets/${id}/run`, { method: 'POST' });
  expect(started.status).toBe(202);
  // Polled in D1, not through the API, so the wait spends none of the key's rate limit.
  await waitFor(async () => {
    const row = await env.DB.prepare('SELECT status FROM datasets WHERE id = ?')
      .bind(id)
      .first<{ status: string }>();
    return row?.status === 'completed' || row?.status === 'failed';
  });
  return get(key, id);
}

const encodeCalls = () => backend.calls.filter((call) => call.path === '/v1/encode').length;

/** An .npy file (version 1.0, '<i8', C order) as its shape and values. */
function readNpy(bytes: Uint8Array): { shape: number[]; values: number[] } {
  expect([...bytes.subarray(0, 8)]).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint16(8, true);
  expect((10 + headerLength) % 64).toBe(0);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
  expect(header).toContain("'descr': '<i8'");
  expect(header).toContain("'fortran_order': False");
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)![1]!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  const values: number[] = [];
  for (let offset = 10 + headerLength; offset < bytes.length; offset += 8) {
    values.push(Number(view.getBigInt64(offset, true)));
  }
  return { shape, values };
}

describe('a dataset run', () => {
  it('tokenizes an ImageFolder tar and serves codes, the official tar and a manifest that agree with tokenize', async () => {
    const files = imageFolder(['dog', 'cat', 'emu'], 4);
    const dataset = await create(alice, { name: 'pets' });
    const added = await addTar(alice, dataset.id, writeTar(files));
    expect(added.status).toBe(200);
    expect(await added.json()).toEqual({ added: 12, skipped: 0, images_total: 12 });

    const done = await runToEnd(alice, dataset.id);
    expect(done.status).toBe('completed');
    expect(done.classes).toEqual({ cat: 0, dog: 1, emu: 2 });
    expect(done.progress).toEqual({ images_done: 12, images_total: 12 });

    // ImageFolder order: classes sorted, then paths sorted.
    const order = [...files].sort((a, b) => (a.name < b.name ? -1 : 1));
    const expected = [];
    for (const file of order) {
      const form = new FormData();
      form.set('image', new File([file.bytes as Uint8Array<ArrayBuffer>], 'x.png', { type: 'image/png' }));
      const answer = (await (await api(bob.key, '/v1/tokenize', { method: 'POST', body: form })).json()) as {
        tokens: number[][];
      };
      expected.push(answer.tokens[0]);
    }

    const codes = await api(alice.key, `/v1/datasets/${dataset.id}/codes`);
    expect(codes.status).toBe(200);
    expect(codes.headers.get('content-type')).toBe(TOKENS_MEDIA_TYPE);
    const set = decodeTokens(new Uint8Array(await codes.arrayBuffer()));
    expect([set.model, set.count, set.tokensPerImage]).toEqual([NANO.id, 12, NANO.tokens_per_image]);
    expect(tokenRows(set.tokens, set.tokensPerImage)).toEqual(expected);

    const tar = await api(alice.key, `/v1/datasets/${dataset.id}/codes.tar`);
    const entries = new Map(
      [...readTar(new Uint8Array(await tar.arrayBuffer()))].map((e) => [e.name, e.bytes]),
    );
    expect(entries.size).toBe(24);
    for (const [i, file] of order.entries()) {
      const code = readNpy(entries.get(`pets_codes/${i}.npy`)!);
      expect(code.shape).toEqual([1, 1, NANO.tokens_per_image]);
      expect(code.values).toEqual(expected[i]);
      const label = readNpy(entries.get(`pets_labels/${i}.npy`)!);
      expect(label).toEqual({ shape: [1], values: [done.classes![file.name.split('/')[0]!]] });
    }

    const manifest = (await (await api(alice.key, `/v1/datasets/${dataset.id}/manifest`)).json()) as {
      labels: number[];
      rows: { row: number; name: string; label: number; augmentation: number; token_id: string }[];
    };
    expect(manifest.labels).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect(manifest.rows.map((r) => r.name)).toEqual(order.map((f) => f.name));
    const first = await api(alice.key, `/v1/tokens/${manifest.rows[0]!.token_id}`);
    expect(((await first.json()) as { tokens: number[][] }).tokens).toEqual([expected[0]]);
  });

  it('answers If-None-Match with 304 on each output, and a changed tag with the bytes', async () => {
    const dataset = await create(alice, { name: 'etags' });
    await addTar(alice, dataset.id, writeTar(imageFolder(['a', 'b'], 2)));
    await runToEnd(alice, dataset.id);
    for (const path of ['codes', 'codes.tar', 'manifest']) {
      const full = await api(alice.key, `/v1/datasets/${dataset.id}/${path}`);
      const etag = full.headers.get('etag')!;
      expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
      await full.arrayBuffer();
      const again = await api(alice.key, `/v1/datasets/${dataset.id}/${path}`, {
        headers: { 'if-none-match': etag },
      });
      expect(again.status).toBe(304);
      const other = await api(alice.key, `/v1/datasets/${dataset.id}/${path}`, {
        headers: { 'if-none-match': '"x"' },
      });
      expect(other.status).toBe(200);
      await other.arrayBuffer();
    }
  });

  it('does not send images this tenant tokenized before, and still sends them for another tenant', async () => {
    const files = imageFolder(['x', 'y'], 3);
    const first = await create(alice, { name: 'once' });
    await addTar(alice, first.id, writeTar(files));
    const before = encodeCalls();
    await runToEnd(alice, first.id);
    expect(encodeCalls()).toBe(before + 1);

    const second = await create(alice, { name: 'twice' });
    await addTar(alice, second.id, writeTar(files));
    const done = await runToEnd(alice, second.id);
    expect(done.status).toBe('completed');
    expect(encodeCalls()).toBe(before + 1);

    const forBob = await create(bob, { name: 'bobs' });
    await addTar(bob, forBob.id, writeTar(files));
    await runToEnd(bob, forBob.id);
    expect(encodeCalls()).toBe(before + 2);
  });

  it('runs flip as two rows per image: the image, then its mirror, in codes, tar and manifest', async () => {
    const files = imageFolder(['l', 'r'], 2);
    const dataset = await create(alice, { name: 'flipped', augmentation: 'flip' });
    await addTar(alice, dataset.id, writeTar(files));
    const done = await runToEnd(alice, dataset.id);
    expect([done.status, done.rows_per_image]).toEqual(['completed', 2]);
    const call = backend.calls.filter((c) => c.path === '/v1/encode').at(-1)!.body as Record<string, unknown>;
    expect([call.augment, call.priority]).toEqual(['flip', 'background']);

    const set = decodeTokens(
      new Uint8Array(await (await api(alice.key, `/v1/datasets/${dataset.id}/codes`)).arrayBuffer()),
    );
    const rows = tokenRows(set.tokens, set.tokensPerImage);
    expect(rows).toHaveLength(8);
    for (const [i, file] of files.entries()) {
      expect(rows[2 * i]).toEqual(await stubTokens(file.bytes, 0));
      expect(rows[2 * i + 1]).toEqual(await stubTokens(file.bytes, 1));
    }
    const tar = await api(alice.key, `/v1/datasets/${dataset.id}/codes.tar`);
    const entries = new Map(
      [...readTar(new Uint8Array(await tar.arrayBuffer()))].map((e) => [e.name, e.bytes]),
    );
    const code = readNpy(entries.get('flipped_codes/3.npy')!);
    expect(code.shape).toEqual([1, 2, NANO.tokens_per_image]);
    expect(code.values).toEqual([...rows[6]!, ...rows[7]!]);
  });

  it('runs more batches than one message holds, each image sent once and its rows in image order', async () => {
    // ten_crop: 10 rows per image, so 6 images per backend call; 40 images make 7 batches, more than
    // one message runs, two of them in flight at a time.
    const perCall = Math.floor(LIMITS.maxBackendBatch / 10);
    const files = imageFolder(['a', 'b', 'c', 'd'], 10);
    const dataset = await create(alice, { name: 'many', augmentation: 'ten_crop' });
    await addTar(alice, dataset.id, writeTar(files));
    const before = backend.calls.length;
    const done = await runToEnd(alice, dataset.id);
    expect([done.status, done.progress]).toEqual(['completed', { images_done: 40, images_total: 40 }]);

    const calls = backend.calls.slice(before).filter((c) => c.path === '/v1/encode');
    expect(calls).toHaveLength(Math.ceil(40 / perCall));
    const sent = calls.flatMap((c) => (c.body as { images: string[] }).images);
    expect(new Set(sent).size).toBe(40);

    const set = decodeTokens(
      new Uint8Array(await (await api(alice.key, `/v1/datasets/${dataset.id}/codes`)).arrayBuffer()),
    );
    const rows = tokenRows(set.tokens, set.tokensPerImage);
    expect(rows).toHaveLength(400);
    for (const [i, file] of files.entries()) {
      for (const a of [0, 9]) expect(rows[10 * i + a]).toEqual(await stubTokens(file.bytes, a));
    }
  });
});

describe('token bytes in D1 and the cron sweep', () => {
  const tokenRowsOf = async (id: string) =>
    (
      await env.DB.prepare(
        'SELECT idx, token_id, tokens FROM dataset_images WHERE dataset_id = ? ORDER BY idx',
      )
        .bind(id)
        .all<{ idx: number; token_id: string; tokens: number[] | ArrayBuffer | null }>()
    ).results;

  it('records each image its GTOK bytes, also when skipped as tokenized before, and writes the outputs without R2 reads', async () => {
    const files = imageFolder(['p', 'q'], 3);
    const first = await create(alice, { name: 'sent' });
    await addTar(alice, first.id, writeTar(files));
    await runToEnd(alice, first.id);
    // The same images again: every one is skipped as tokenized, its token set read instead of sent.
    const before = encodeCalls();
    const second = await create(alice, { name: 'skipped' });
    await addTar(alice, second.id, writeTar(files));
    expect((await runToEnd(alice, second.id)).status).toBe('completed');
    expect(encodeCalls()).toBe(before);

    for (const id of [first.id, second.id]) {
      const rows = await tokenRowsOf(id);
      expect(rows).toHaveLength(6);
      for (const row of rows) {
        const stored = await env.ARTIFACTS.get(tokensKey(row.token_id));
        expect(row.tokens).not.toBeNull();
        expect(new Uint8Array(row.tokens as ArrayLike<number>)).toEqual(
          new Uint8Array(await stored!.arrayBuffer()),
        );
      }
    }

    const dataset = (await getDataset(env.DB, second.id))!;
    const images = await allImages(env.DB, second.id);
    const expected = dataset.outputs!;
    // A row recorded without its bytes (before D1 kept them) is read from R2: the same outputs.
    await env.DB.prepare('UPDATE dataset_images SET tokens = NULL WHERE dataset_id = ? AND idx = 0')
      .bind(second.id)
      .run();
    expect(await writeOutputs(env, dataset, images)).toEqual(expected);
    // Every other token set gone from R2: the outputs come from D1, byte for byte the same, in one page
    // or in pages of 4 and 2 images.
    const rows = await tokenRowsOf(second.id);
    for (const row of rows.slice(1)) await env.ARTIFACTS.delete(tokensKey(row.token_id));
    expect(await writeOutputs(env, dataset, images)).toEqual(expected);
    expect(await writeOutputs(env, dataset, images, 4)).toEqual(expected);
    // The one row without bytes does need R2.
    await env.ARTIFACTS.delete(tokensKey(rows[0]!.token_id));
    await expect(writeOutputs(env, dataset, images)).rejects.toThrow(/missing from R2/);
  });

  it('re-sends the message of a run that has not progressed (its first send was lost), and leaves a fresh one alone', async () => {
    // Both runs are started in D1 the way POST /run does, but no queue message is sent.
    const start = async (key: TestKey, name: string) => {
      const created = await create(key, { name });
      await addTar(key, created.id, writeTar(imageFolder(['s', 't'], 2)));
      const dataset = (await getDataset(env.DB, created.id))!;
      const { classes, order } = labelling(dataset, await allImages(env.DB, dataset.id));
      const started = await startRun(env.DB, dataset, classes, order);
      expect(started?.status).toBe('queued');
      return created.id;
    };
    const progressedAt = async (id: string) =>
      (await env.DB.prepare('SELECT status, progressed_at FROM datasets WHERE id = ?')
        .bind(id)
        .first<{ status: string; progressed_at: number }>())!;
    const stalled = await start(alice, 'stalled');
    const fresh = await start(bob, 'fresh');
    await env.DB.prepare('UPDATE datasets SET progressed_at = ? WHERE id = ?')
      .bind(Date.now() - UNCLAIMED_AFTER_MS - 1000, stalled)
      .run();
    const freshBefore = await progressedAt(fresh);

    const before = encodeCalls();
    await scheduled({} as ScheduledController, env);
    await waitFor(async () => (await progressedAt(stalled)).status === 'completed');
    expect(encodeCalls()).toBe(before + 1);
    const done = await get(alice, stalled);
    expect(done.progress).toEqual({ images_done: 4, images_total: 4 });
    expect((await api(alice.key, `/v1/datasets/${stalled}/codes`)).status).toBe(200);

    expect(await progressedAt(fresh)).toEqual(freshBefore);
    expect(freshBefore.status).toBe('queued');
    // A second sweep right away re-sends nothing: the stalled run moved on, the fresh one is recent.
    await scheduled({} as ScheduledController, env);
    expect(await progressedAt(fresh)).toEqual(freshBefore);
    expect((await api(bob.key, `/v1/datasets/${fresh}/cancel`, { method: 'POST' })).status).toBe(200);
  });
  it('lets one chain of messages carry a run: the original of a re-sent message does nothing when it arrives late', async () => {
    const created = await create(alice, { name: 'two-messages' });
    await addTar(alice, created.id, writeTar(imageFolder(['u', 'v'], 2)));
    const dataset = (await getDataset(env.DB, created.id))!;
    const { classes, order } = labelling(dataset, await allImages(env.DB, dataset.id));
    const started = (await startRun(env.DB, dataset, classes, order))!;
    const original = { dataset_id: started.id, run_seq: started.runSeq, chain: FIRST_CHAIN };
    const status = async () =>
      (await env.DB.prepare('SELECT status FROM datasets WHERE id = ?')
        .bind(started.id)
        .first<{ status: string }>())!.status;
    // The sweep finds the run stalled (its message waits in a backlog) and moves the chain on; the
    // re-sent message is sent under the new value.
    const resent = (await reclaimStalledRuns(env.DB, Date.now() + 1, 100)).find((r) => r.id === started.id);
    expect(resent).toEqual({ id: started.id, runSeq: started.runSeq, chain: FIRST_CHAIN + 1 });

    const before = encodeCalls();
    const late = await runQueue(QUEUES.datasets, [original]);
    expect(late.acked).toHaveLength(1);
    expect(encodeCalls()).toBe(before);
    expect(await status()).toBe('queued');

    // The re-sent message runs the batch and hands the run on; the rest goes through the local queue.
    const current = { ...original, chain: resent!.chain };
    expect((await runQueue(QUEUES.datasets, [current])).acked).toHaveLength(1);
    expect(encodeCalls()).toBe(before + 1);
    await waitFor(async () => (await status()) === 'completed');
    expect(encodeCalls()).toBe(before + 1);
    // Delivered again now (a duplicate delivery), the message that handed the run on does nothing.
    expect((await runQueue(QUEUES.datasets, [current])).acked).toHaveLength(1);
    expect(encodeCalls()).toBe(before + 1);
    expect((await get(alice, started.id)).progress).toEqual({ images_done: 4, images_total: 4 });
  });

  it('fails a run from its dead-lettered message only while that message is current', async () => {
    const created = await create(alice, { name: 'dead-letters' });
    await addTar(alice, created.id, writeTar(imageFolder(['w'], 1)));
    const dataset = (await getDataset(env.DB, created.id))!;
    const { classes, order } = labelling(dataset, await allImages(env.DB, dataset.id));
    const started = (await startRun(env.DB, dataset, classes, order))!;
    const stale = { dataset_id: started.id, run_seq: started.runSeq, chain: FIRST_CHAIN };
    await reclaimStalledRuns(env.DB, Date.now() + 1, 100);
    await runQueue(QUEUES.datasetsDead, [stale]);
    expect((await get(alice, started.id)).status).toBe('queued');
    await runQueue(QUEUES.datasetsDead, [{ ...stale, chain: FIRST_CHAIN + 1 }]);
    expect((await get(alice, started.id)).status).toBe('failed');
  });
});

describe('failures', () => {
  it('fails the run, naming the augmentation, when the backend refuses augment', async () => {
    backend.augmentations.delete('ten_crop');
    try {
      const dataset = await create(alice, { name: 'crops', augmentation: 'ten_crop' });
      await addTar(alice, dataset.id, writeTar(imageFolder(['a'], 1)));
      const done = await runToEnd(alice, dataset.id);
      expect(done.status).toBe('failed');
      expect(done.error?.detail).toContain("does not support augmentation 'ten_crop'");
      expect((await api(alice.key, `/v1/datasets/${dataset.id}/codes`)).status).toBe(409);
    } finally {
      backend.augmentations.add('ten_crop');
    }
  });
});

describe('dead letters', () => {
  it('fails a run whose batch used up its retries, and its later messages change nothing', async () => {
    const dataset = await create(alice, { name: 'dead' });
    await addTar(alice, dataset.id, writeTar(imageFolder(['a'], 1)));
    backend.mode = 'error500';
    const callsBefore = encodeCalls();
    expect((await api(alice.key, `/v1/datasets/${dataset.id}/run`, { method: 'POST' })).status).toBe(202);
    await waitFor(async () => encodeCalls() > callsBefore);
    const dead = await runQueue('gigatok-datasets-dlq', [{ dataset_id: dataset.id, run_seq: 1 }]);
    expect(dead.acked).toHaveLength(1);
    const failed = await get(alice, dataset.id);
    expect([failed.status, failed.error?.code]).toEqual(['failed', 'backend_unavailable']);
    backend.mode = 'up';
    const late = await runQueue('gigatok-datasets', [{ dataset_id: dataset.id, run_seq: 1 }]);
    expect(late.acked).toHaveLength(1);
    expect((await get(alice, dataset.id)).status).toBe('failed');
  });
});

describe('labels', () => {
  it('takes multipart images with label parts and numbers them by the mapping', async () => {
    const dataset = await create(alice, { name: 'mapped', labels: { mapping: { cat: 7, dog: 3 } } });
    const form = new FormData();
    form.append('image', new File([testPng(seed++) as Uint8Array<ArrayBuffer>], 'a.png'));
    form.append('label', 'dog');
    form.append('image', new File([testPng(seed++) as Uint8Array<ArrayBuffer>], 'b.png'));
    form.append('label', 'cat');
    const added = await api(alice.key, `/v1/datasets/${dataset.id}/images`, { method: 'POST', body: form });
    expect(await added.json()).toEqual({ added: 2, skipped: 0, images_total: 2 });
    const done = await runToEnd(alice, dataset.id);
    expect(done.classes).toEqual({ cat: 7, dog: 3 });
    const manifest = (await (await api(alice.key, `/v1/datasets/${dataset.id}/manifest`)).json()) as {
      rows: { name: string; label: number }[];
    };
    expect(manifest.rows.map((r) => [r.name, r.label])).toEqual([
      ['cat/b.png', 7],
      ['dog/a.png', 3],
    ]);
  });

  it('takes the class of a multipart image from its filename <class>/<file>, and refuses a bare name', async () => {
    const dataset = await create(alice, { name: 'named' });
    const form = new FormData();
    form.append('image', new File([testPng(seed++) as Uint8Array<ArrayBuffer>], 'owl/1.png'));
    const added = await api(alice.key, `/v1/datasets/${dataset.id}/images`, { method: 'POST', body: form });
    expect(await added.json()).toEqual({ added: 1, skipped: 0, images_total: 1 });
    const bare = new FormData();
    bare.append('image', new File([testPng(seed++) as Uint8Array<ArrayBuffer>], '2.png'));
    const refused = await api(alice.key, `/v1/datasets/${dataset.id}/images`, { method: 'POST', body: bare });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { field: string }).field).toBe('label');
    const done = await runToEnd(alice, dataset.id);
    expect(done.classes).toEqual({ owl: 0 });
  });

  it('refuses an image whose class the mapping does not name, naming labels.mapping', async () => {
    const dataset = await create(alice, { name: 'strict', labels: { mapping: { cat: 0 } } });
    const response = await addTar(alice, dataset.id, writeTar(imageFolder(['cow'], 1)));
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { field: string; detail: string };
    expect(problem.field).toBe('labels.mapping');
    expect(problem.detail).toContain("'cow'");
  });

  it('skips names sent again and hidden files', async () => {
    const files = imageFolder(['a'], 2);
    const dataset = await create(alice, { name: 'again' });
    await addTar(alice, dataset.id, writeTar(files));
    const again = await addTar(
      alice,
      dataset.id,
      writeTar([...files, { name: 'a/._000.png', bytes: new Uint8Array([1, 2, 3]) }]),
    );
    expect(await again.json()).toEqual({ added: 0, skipped: 2, images_total: 2 });
  });
});

describe('cancel', () => {
  it('cancels a run whose backend is failing, fences its messages out, and resumes on the next run', async () => {
    const dataset = await create(alice, { name: 'stopped' });
    await addTar(alice, dataset.id, writeTar(imageFolder(['a', 'b'], 2)));
    backend.mode = 'error500';
    const callsBefore = encodeCalls();
    expect((await api(alice.key, `/v1/datasets/${dataset.id}/run`, { method: 'POST' })).status).toBe(202);
    await waitFor(async () => encodeCalls() > callsBefore);
    expect((await get(alice, dataset.id)).progress.images_done).toBe(0);
    const canceled = await api(alice.key, `/v1/datasets/${dataset.id}/cancel`, { method: 'POST' });
    expect(canceled.status).toBe(200);
    expect(((await canceled.json()) as DatasetBody).status).toBe('canceled');
    backend.mode = 'up';

    // A message of the canceled run changes nothing.
    const stale = await runQueue('gigatok-datasets', [{ dataset_id: dataset.id, run_seq: 1 }]);
    expect(stale.acked).toHaveLength(1);
    expect((await get(alice, dataset.id)).status).toBe('canceled');

    const again = await api(alice.key, `/v1/datasets/${dataset.id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);

    const done = await runToEnd(alice, dataset.id);
    expect(done.status).toBe('completed');
  });

  it('answers run on a completed dataset as it is (idempotent)', async () => {
    const dataset = await create(alice, { name: 'idem' });
    await addTar(alice, dataset.id, writeTar(imageFolder(['a'], 1)));
    await runToEnd(alice, dataset.id);
    const calls = encodeCalls();
    const again = await api(alice.key, `/v1/datasets/${dataset.id}/run`, { method: 'POST' });
    expect(again.status).toBe(200);
    expect(((await again.json()) as DatasetBody).status).toBe('completed');
    expect(encodeCalls()).toBe(calls);
  });
});

describe('isolation and bad input', () => {
  it("answers another tenant's dataset with 404 on every route", async () => {
    const dataset = await create(alice, { name: 'private' });
    await addTar(alice, dataset.id, writeTar(imageFolder(['a'], 1)));
    await runToEnd(alice, dataset.id);
    for (const [method, path] of [
      ['GET', ''],
      ['POST', '/run'],
      ['POST', '/cancel'],
      ['GET', '/codes'],
      ['GET', '/codes.tar'],
      ['GET', '/manifest'],
    ] as const) {
      const response = await api(bob.key, `/v1/datasets/${dataset.id}${path}`, { method });
      expect(response.status, `${method} ${path}`).toBe(404);
    }
    expect((await addTar(bob, dataset.id, writeTar(imageFolder(['a'], 1)))).status).toBe(404);
    const list = (await (await api(bob.key, '/v1/datasets')).json()) as { data: { id: string }[] };
    expect(list.data.map((d) => d.id)).not.toContain(dataset.id);
    const mine = (await (await api(alice.key, '/v1/datasets?limit=100')).json()) as {
      data: { id: string }[];
    };
    expect(mine.data.map((d) => d.id)).toContain(dataset.id);
  });

  it('refuses bad create fields, naming the field and the allowed values', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{}, 'name', "'name' is required"],
      [{ name: '../etc' }, 'name', 'starting with a letter or digit'],
      [{ name: 'x'.repeat(65) }, 'name', '64'],
      [{ name: 'ok', augmentation: 'rotate' }, 'augmentation', 'ten_crop'],
      [{ name: 'ok', labels: 'files' }, 'labels', 'folders'],
    ];
    for (const [body, field, text] of cases) {
      const response = await postJson(alice.key, '/v1/datasets', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const problem = (await response.json()) as {
        field?: string;
        detail: string;
        errors?: { field: string }[];
      };
      const fields = [problem.field, ...(problem.errors ?? []).map((e) => e.field)];
      expect(fields, JSON.stringify(body)).toContain(field);
      expect(JSON.stringify(problem)).toContain(text);
    }
  });

  it('refuses bad uploads: body and image limits, non-images, loose files, broken tars, other types', async () => {
    const dataset = await create(alice, { name: 'bad' });
    const big = await api(alice.key, `/v1/datasets/${dataset.id}/images`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-tar',
        'content-length': String(LIMITS.maxDatasetUploadBytes + 1),
      },
      body: new Uint8Array(16) as Uint8Array<ArrayBuffer>,
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { limit: number }).limit).toBe(LIMITS.maxDatasetUploadBytes);

    const huge = await addTar(
      alice,
      dataset.id,
      writeTar([{ name: 'a/huge.png', bytes: new Uint8Array(LIMITS.maxImageBytes + 1) }]),
    );
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ field: "images['a/huge.png']", limit: LIMITS.maxImageBytes });

    const text = await addTar(
      alice,
      dataset.id,
      writeTar([{ name: 'a/readme.txt', bytes: new Uint8Array([104, 105]) }]),
    );
    expect(text.status).toBe(415);
    expect(((await text.json()) as { field: string }).field).toBe("images['a/readme.txt']");

    const loose = await addTar(alice, dataset.id, writeTar([{ name: 'x.png', bytes: testPng(seed++) }]));
    expect(loose.status).toBe(400);
    expect(((await loose.json()) as { detail: string }).detail).toContain('class folder');

    const broken = writeTar(imageFolder(['a'], 1));
    broken[10]! ^= 0xff;
    expect((await addTar(alice, dataset.id, broken)).status).toBe(400);

    const json = await postJson(alice.key, `/v1/datasets/${dataset.id}/images`, { images: [] });
    expect(json.status).toBe(415);

    expect((await api(alice.key, `/v1/datasets/${dataset.id}/run`, { method: 'POST' })).status).toBe(409);
    expect((await api(alice.key, `/v1/datasets/${dataset.id}/codes`)).status).toBe(409);
    expect((await get(alice, dataset.id)).progress.images_total).toBe(0);
  });

  it('refuses images once a dataset has run', async () => {
    const dataset = await create(alice, { name: 'closed' });
    await addTar(alice, dataset.id, writeTar(imageFolder(['a'], 1)));
    await runToEnd(alice, dataset.id);
    const late = await addTar(alice, dataset.id, writeTar(imageFolder(['a'], 1)));
    expect(late.status).toBe(409);
  });
});
