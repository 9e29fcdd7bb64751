// A small node:http stand-in for the public API (the contract in shared), for the client's own tests:
// real HTTP on loopback, real GTOK blobs and content ids from shared, real PNGs, jobs that advance
// one status per poll (or per 20 ms tick of the event stream). Responses can be scripted ahead of
// routing to provoke 429s, 503s and so on.

import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiError,
  type ErrorCode,
  encodeTokens,
  GENERATION_EVENT_TYPES,
  generationParamsKey,
  imageId,
  newJobId,
  newMessageId,
  type Problem,
  parseIdempotencyKey,
  parseManifest,
  problem,
  rangeMessage,
  resolveClassRefs,
  summarizeManifest,
  TOKENS_MEDIA_TYPE,
  tokenSetId,
  WEBHOOK_DELIVERY_STATUSES,
  type WebhookDelivery,
} from '@gigatok/shared';
import { encodePng } from '@gigatok/shared/testing/png';
import nanoManifest from '../../models/gigatok-nano/manifest.json';

/** The shipped default model, as its committed manifest describes it: the fake serves what the API would. */
const NANO = summarizeManifest(parseManifest(nanoManifest));

export const MODEL = {
  id: NANO.id,
  codebookSize: NANO.codebook_size,
  tokensPerImage: NANO.tokens_per_image,
  numClasses: NANO.num_classes,
  imageSize: NANO.image_size,
};
export const API_KEY = 'gtk_live_abcdefghijklmnopqrstuvwxyz234567';
export const ADMIN_TOKEN = 'admin-secret-for-tests';
export const WEBHOOK_SECRET = 'whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Uint8Array<ArrayBuffer>;
  at: number;
}

export interface ScriptedResponse {
  /** Omitted with `drop`. */
  status?: number;
  /** Destroy the connection without answering (a network error for the client). */
  drop?: boolean;
  /** Answer only after this long (to trip the client's timeout). */
  delayMs?: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Which requests it applies to; every request when absent. */
  match?: (request: RecordedRequest) => boolean;
}

interface Reply {
  status: number;
  drop?: boolean;
  delayMs?: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Writes the whole response itself (the event stream). */
  stream?: (res: ServerResponse) => Promise<void>;
}

type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';

interface FakeJob {
  job: Record<string, unknown> & { id: string; status: JobStatus };
  polls: number;
}

export interface FakeApiOptions {
  /** GETs of a job before it succeeds: queued -> running on the first, succeeded on this one. */
  pollsToFinish?: number;
  /** Make jobs end `failed` instead of `succeeded`. */
  failJobs?: boolean;
  /** Serve GET /v1/generations/{id}/events (off: it answers 404, as a server without the route would). */
  events?: boolean;
  /** The first event stream connection is cut after this many events (to exercise reconnecting). */
  eventsDropAfter?: number;
}

const json = (status: number, value: unknown, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(value),
});

const problemReply = (
  code: ErrorCode,
  detail: string,
  field?: string,
  headers: Record<string, string> = {},
) => {
  const body: Problem = problem(code, detail, { field });
  return {
    status: body.status,
    headers: { 'content-type': 'application/problem+json', ...headers },
    body: JSON.stringify(body),
  };
};

/** The data of the event reporting `job`'s status (shared's JobEvent). */
function eventData(job: FakeJob['job']): Record<string, unknown> {
  switch (job.status) {
    case 'queued':
      return { type: 'queued', id: job.id, attempts: job.attempts, created_at: job.created_at };
    case 'running': {
      const params = job.params as { class_ids: unknown[] };
      return {
        type: 'running',
        id: job.id,
        attempt: job.attempts,
        started_at: job.started_at,
        images: params.class_ids.length,
      };
    }
    case 'failed':
      return { type: 'failed', id: job.id, error: job.error, generation: job };
    default:
      return { type: job.status, id: job.id, generation: job };
  }
}

export function problemBody(code: ErrorCode, detail: string, field?: string): string {
  return JSON.stringify(problem(code, detail, { field }));
}

export class FakeApi {
  readonly requests: RecordedRequest[] = [];
  readonly tokens = new Map<string, number[][]>();
  readonly images = new Map<string, Uint8Array>();
  readonly jobs = new Map<string, FakeJob>();
  readonly keys: { tenant: string; key: string }[] = [];
  /** Webhook deliveries, oldest first (seedDeliveries adds them); redelivery appends a manual attempt. */
  readonly deliveries: WebhookDelivery[] = [];
  webhookSecret = WEBHOOK_SECRET;
  #script: ScriptedResponse[] = [];
  #idempotency = new Map<string, { hash: string; jobId: string }>();
  #server: Server;
  #options: Required<Omit<FakeApiOptions, 'eventsDropAfter'>> & Pick<FakeApiOptions, 'eventsDropAfter'>;
  url = '';

  private constructor(options: FakeApiOptions) {
    this.#options = { pollsToFinish: 2, failJobs: false, events: false, ...options };
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://fake');
        const recorded: RecordedRequest = {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: new Uint8Array(Buffer.concat(chunks)),
          at: performance.now(),
        };
        this.requests.push(recorded);
        this.#handle(recorded).then(
          async (reply) => {
            if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
            if (reply.drop) {
              req.socket.destroy();
              return;
            }
            if (res.destroyed) return;
            if (reply.stream) return reply.stream(res);
            res.writeHead(reply.status, reply.headers);
            res.end(reply.body);
          },
          (error: unknown) => {
            const r = problemReply('internal', String(error));
            res.writeHead(r.status, r.headers);
            res.end(r.body);
          },
        );
      });
    });
  }

  static async start(options: FakeApiOptions = {}): Promise<FakeApi> {
    const api = new FakeApi(options);
    await new Promise<void>((resolve) => api.#server.listen(0, '127.0.0.1', resolve));
    api.url = `http://127.0.0.1:${(api.#server.address() as AddressInfo).port}`;
    return api;
  }

  /** Queues responses served, in order, to the next matching requests instead of the real route. */
  script(...responses: ScriptedResponse[]): void {
    this.#script.push(...responses);
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  /** Stores a token set as the tokenize route would, returning its id. */
  async putTokens(rows: number[][]): Promise<string> {
    const id = await tokenSetId({
      model: MODEL.id,
      codebook_size: MODEL.codebookSize,
      tokens_per_image: MODEL.tokensPerImage,
      tokens: rows,
    });
    this.tokens.set(id, rows);
    return id;
  }

  async #handle(req: RecordedRequest): Promise<Reply> {
    const scripted = this.#script.findIndex((s) => !s.match || s.match(req));
    if (scripted >= 0) {
      const [s] = this.#script.splice(scripted, 1);
      const { status = 200, headers = {}, body = '', drop, delayMs } = s!;
      return { status, headers, body, drop, delayMs };
    }
    if (req.path === '/v1/admin/keys' && req.method === 'POST') return this.#createKey(req);
    if (req.headers.authorization !== `Bearer ${API_KEY}` && req.path !== '/v1/healthz') {
      return problemReply('unauthorized', 'missing or unknown API key', undefined, {
        'www-authenticate': 'Bearer',
      });
    }
    const route = `${req.method} ${req.path}`;
    const routes: [RegExp, (id: string) => Reply | Promise<Reply>][] = [
      [/^POST \/v1\/tokenize$/, () => this.#tokenize(req)],
      [/^GET \/v1\/tokens\/([^/]+)$/, (id) => this.#getTokens(req, id)],
      [/^POST \/v1\/detokenize$/, () => this.#detokenize(req)],
      [/^GET \/v1\/images\/([^/]+)$/, (id) => this.#getImage(req, id)],
      [/^POST \/v1\/generations$/, () => this.#createGeneration(req)],
      [/^GET \/v1\/generations$/, () => this.#listGenerations(req)],
      [/^GET \/v1\/generations\/([^/]+)$/, (id) => this.#getGeneration(id)],
      [/^POST \/v1\/generations\/([^/]+)\/cancel$/, (id) => this.#cancel(id)],
      [/^GET \/v1\/generations\/([^/]+)\/events$/, (id) => this.#events(req, id)],
      [/^GET \/v1\/webhooks\/secret$/, () => json(200, { secret: this.webhookSecret })],
      [/^POST \/v1\/webhooks\/secret\/rotate$/, () => this.#rotateSecret()],
      [/^GET \/v1\/webhooks\/deliveries$/, () => this.#listDeliveries(req)],
      [/^POST \/v1\/webhooks\/deliveries\/([^/]+)\/redeliver$/, (id) => this.#redeliver(id)],
      [/^GET \/v1\/healthz$/, () => json(200, { status: 'ok', backend: 'ready' })],
      [/^GET \/v1\/models$/, () => json(200, { object: 'list', data: [modelInfo()] })],
    ];
    for (const [pattern, handler] of routes) {
      const match = pattern.exec(route);
      if (match) return handler(match[1] ?? '');
    }
    return problemReply('not_found', `no route for ${route}`);
  }

  async #tokenize(req: RecordedRequest): Promise<Reply> {
    const type = String(req.headers['content-type'] ?? '');
    let image: Uint8Array | undefined;
    if (type.startsWith('multipart/form-data')) {
      const form = await new Request('http://fake/', {
        method: 'POST',
        headers: { 'content-type': type },
        body: req.body,
      }).formData();
      const part = form.get('image');
      if (part instanceof Blob) image = new Uint8Array(await part.arrayBuffer());
    } else if (type.startsWith('image/')) {
      image = req.body;
    } else {
      return problemReply('unsupported_media_type', `unsupported content type ${JSON.stringify(type)}`);
    }
    if (!image || image.length === 0) return problemReply('invalid_image', 'the image is empty', 'image');
    // Deterministic stand-in for the encoder: tokens from a hash of the image bytes.
    const digest = createHash('sha256').update(image).digest();
    const row = Array.from(
      { length: MODEL.tokensPerImage },
      (_, i) => ((digest[i % 32]! << 8) | digest[(i + 1) % 32]!) % MODEL.codebookSize,
    );
    const before = this.tokens.size;
    const id = await this.putTokens([row]);
    const cache = this.tokens.size === before ? 'hit' : 'miss';
    return this.#tokensReply(req, id, [row], { 'x-cache': cache });
  }

  #tokensReply(req: RecordedRequest, id: string, rows: number[][], extra: Record<string, string>): Reply {
    const binary = String(req.headers.accept ?? '').includes(TOKENS_MEDIA_TYPE);
    // Two representations, two strong validators, as the Worker does.
    const headers = {
      etag: binary ? `"${id}.gtok"` : `"${id}"`,
      location: `/v1/tokens/${id}`,
      vary: 'accept',
      ...extra,
    };
    if (binary) {
      const blob = encodeTokens({
        model: MODEL.id,
        codebookSize: MODEL.codebookSize,
        tokensPerImage: MODEL.tokensPerImage,
        tokens: rows,
      });
      return { status: 200, headers: { 'content-type': TOKENS_MEDIA_TYPE, ...headers }, body: blob };
    }
    return json(200, tokensBody(id, rows), headers);
  }

  #getTokens(req: RecordedRequest, id: string): Reply {
    const rows = this.tokens.get(id);
    if (!rows) return problemReply('not_found', `no token set ${id}`);
    const etag = String(req.headers.accept ?? '').includes(TOKENS_MEDIA_TYPE) ? `"${id}.gtok"` : `"${id}"`;
    if (req.headers['if-none-match'] === etag) return { status: 304, headers: { etag } };
    return this.#tokensReply(req, id, rows, { 'cache-control': 'private, max-age=31536000, immutable' });
  }

  async #detokenize(req: RecordedRequest): Promise<Reply> {
    const body = parseJson(req.body);
    if (!body) return problemReply('invalid_json', 'the body is not a JSON object');
    const format = body.format ?? 'png';
    if (format !== 'png')
      return problemReply('invalid_parameter', "'format' must be png in the fake", 'format');
    if ((body.tokens === undefined) === (body.token_id === undefined)) {
      return problemReply(
        'invalid_parameter',
        "exactly one of 'tokens' and 'token_id' is required",
        'tokens',
      );
    }
    let tokenId: string;
    if (typeof body.token_id === 'string') {
      if (!this.tokens.has(body.token_id))
        return problemReply('not_found', `no token set ${body.token_id}`, 'token_id');
      tokenId = body.token_id;
    } else {
      const row = Array.isArray(body.tokens?.[0]) ? body.tokens[0] : body.tokens;
      if (!Array.isArray(row) || row.length !== MODEL.tokensPerImage) {
        return problemReply('invalid_tokens', `'tokens' must hold ${MODEL.tokensPerImage} tokens`, 'tokens');
      }
      const bad = row.findIndex(
        (t: unknown) => !Number.isInteger(t) || (t as number) < 0 || (t as number) >= 1024,
      );
      if (bad >= 0) {
        return problemReply(
          'invalid_tokens',
          rangeMessage(`tokens.${bad}`, 0, 1023, row[bad]),
          `tokens.${bad}`,
        );
      }
      tokenId = await this.putTokens([row]);
    }
    const id = await imageId({ token_id: tokenId, format });
    const cache = this.images.has(id) ? 'hit' : 'miss';
    this.images.set(id, renderImage(this.tokens.get(tokenId)![0]!));
    return {
      status: 200,
      headers: {
        'content-type': 'image/png',
        'x-image-id': id,
        'x-token-id': tokenId,
        location: `/v1/images/${id}`,
        etag: `"${id}"`,
        'x-cache': cache,
      },
      body: this.images.get(id)!,
    };
  }

  #getImage(req: RecordedRequest, id: string): Reply {
    const bytes = this.images.get(id);
    if (!bytes) return problemReply('not_found', `no image ${id}`);
    if (req.headers['if-none-match'] === `"${id}"`) return { status: 304, headers: { etag: `"${id}"` } };
    return { status: 200, headers: { 'content-type': 'image/png', etag: `"${id}"` }, body: bytes };
  }

  async #createGeneration(req: RecordedRequest): Promise<Reply> {
    const body = parseJson(req.body);
    if (!body) return problemReply('invalid_json', 'the body is not a JSON object');
    const count = Array.isArray(body.class_id) ? body.class_id.length : (body.count ?? 1);
    if (!Number.isInteger(count) || count < 1 || count > 16) {
      return problemReply('invalid_parameter', rangeMessage('count', 1, 16, count), 'count');
    }
    if (body.top_k !== undefined && (!Number.isInteger(body.top_k) || body.top_k < 0 || body.top_k > 1024)) {
      return problemReply('invalid_parameter', rangeMessage('top_k', 0, 1024, body.top_k), 'top_k');
    }
    const header = req.headers['idempotency-key'];
    // Read as the API reads it, so `"k"` and `k` are one key.
    const key = parseIdempotencyKey(typeof header === 'string' ? header : undefined);
    const hash = createHash('sha256').update(req.body).digest('hex');
    if (typeof key === 'string') {
      const seen = this.#idempotency.get(key);
      if (seen && seen.hash !== hash) {
        return problemReply('idempotency_key_reused', 'this Idempotency-Key was used with another body');
      }
      if (seen) return json(202, this.jobs.get(seen.jobId)!.job);
    }
    // Class names resolve against the model's labels as the API resolves them (shared's class-label.ts).
    let classRef: number | null | (number | null)[] | undefined;
    try {
      classRef = resolveClassRefs(body.class_id, NANO);
    } catch (error) {
      if (error instanceof ApiError) return problemReply(error.code, error.message, error.field);
      throw error;
    }
    const classIds: (number | null)[] = Array.isArray(classRef)
      ? classRef
      : Array.from({ length: count }, () => classRef ?? null);
    const id = newJobId();
    const params = {
      seed: body.seed ?? 12345,
      cfg_scale: body.cfg_scale ?? NANO.sampling_defaults.cfg_scale,
      cfg_schedule: body.cfg_schedule ?? NANO.sampling_defaults.cfg_schedule,
      temperature: body.temperature ?? NANO.sampling_defaults.temperature,
      top_k: body.top_k ?? NANO.sampling_defaults.top_k,
      top_p: body.top_p ?? NANO.sampling_defaults.top_p,
      class_ids: classIds,
      output: { images: true, format: 'png' },
    };
    const job = {
      id,
      object: 'generation',
      status: 'queued' as JobStatus,
      model: MODEL.id,
      params,
      params_key: await generationParamsKey({ model: MODEL.id, ...params }),
      created_at: new Date(Date.now() + this.jobs.size).toISOString(),
      started_at: null as string | null,
      completed_at: null as string | null,
      cached: false,
      attempts: 0,
      progress: { images_done: 0, images_total: params.class_ids.length },
      error: null as Problem | null,
      result: null as unknown,
    };
    this.jobs.set(id, { job, polls: 0 });
    if (typeof key === 'string') this.#idempotency.set(key, { hash, jobId: id });
    const wait = /wait=(\d+)/.exec(String(req.headers.prefer ?? ''));
    if (wait && Number(wait[1]) > 0 && this.#options.pollsToFinish <= 1) {
      await this.#finish(this.jobs.get(id)!);
      return json(201, job);
    }
    return json(202, job, { location: `/v1/generations/${id}` });
  }

  async #getGeneration(id: string): Promise<Reply> {
    const entry = this.jobs.get(id);
    if (!entry) return problemReply('not_found', `no generation ${id}`);
    await this.#advance(entry);
    return json(200, entry.job);
  }

  /** One poll's worth of progress: queued -> running, and finished after `pollsToFinish` of them. */
  async #advance(entry: FakeJob): Promise<void> {
    const { job } = entry;
    if (job.status === 'queued' || job.status === 'running') {
      entry.polls++;
      if (entry.polls >= this.#options.pollsToFinish) await this.#finish(entry);
      else if (job.status === 'queued') {
        job.status = 'running';
        job.started_at = new Date().toISOString();
        job.attempts = 1;
      }
    }
  }

  #eventsConnections = 0;

  /**
   * The job's events as the API streams them: the ids of workers/api's lib/generations/events.ts
   * (queued 2a, running 2a - 1, final 2a + 1 for a attempts), Last-Event-ID honoured, one step of
   * progress per 20 ms tick, closed after the final event.
   */
  #events(req: RecordedRequest, id: string): Reply {
    if (!this.#options.events) return problemReply('not_found', `no route for GET ${req.path}`);
    const entry = this.jobs.get(id);
    if (!entry) return problemReply('not_found', `no generation ${id}`);
    const connection = ++this.#eventsConnections;
    const header = req.headers['last-event-id'];
    let sent = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : -1;
    const dropAfter = connection === 1 ? this.#options.eventsDropAfter : undefined;
    return {
      status: 200,
      stream: async (res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
        res.write('retry: 20\n\n');
        let written = 0;
        for (;;) {
          const { job } = entry;
          const a = job.attempts as number;
          const eventId = job.status === 'queued' ? 2 * a : job.status === 'running' ? 2 * a - 1 : 2 * a + 1;
          const final = job.status !== 'queued' && job.status !== 'running';
          if (eventId > sent) {
            const message = `id: ${eventId}\nevent: ${job.status}\ndata: ${JSON.stringify(eventData(job))}\n\n`;
            // Flushed before a cut, so the client has the event and then loses the connection.
            await new Promise((resolve) => res.write(message, resolve));
            sent = eventId;
            written++;
            if (written === dropAfter) {
              res.socket?.destroy();
              return;
            }
          }
          if (final || res.destroyed) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
          await this.#advance(entry);
        }
        res.end();
      },
    };
  }

  async #finish(entry: FakeJob): Promise<void> {
    const { job } = entry;
    job.started_at ??= new Date().toISOString();
    job.completed_at = new Date().toISOString();
    job.attempts = Math.max(1, job.attempts as number);
    if (this.#options.failJobs) {
      job.status = 'failed';
      job.error = problem('backend_error', 'the backend failed to sample');
      return;
    }
    const params = job.params as { seed: number; class_ids: (number | null)[] };
    const images = [];
    for (const [index, classId] of params.class_ids.entries()) {
      const row = Array.from(
        { length: MODEL.tokensPerImage },
        (_, i) => (params.seed * 31 + index * 7 + i) % 1024,
      );
      const tokenId = await this.putTokens([row]);
      (job.progress as { images_done: number }).images_done = index + 1;
      const imgId = await imageId({ token_id: tokenId, format: 'png' });
      this.images.set(imgId, renderImage(row));
      images.push({
        index,
        class_id: classId,
        token_id: tokenId,
        tokens_url: `/v1/tokens/${tokenId}`,
        image_id: imgId,
        image_url: `/v1/images/${imgId}`,
      });
    }
    job.status = 'succeeded';
    job.result = { images };
  }

  #listGenerations(req: RecordedRequest): Reply {
    const limit = Number(req.query.get('limit') ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      return problemReply(
        'invalid_parameter',
        rangeMessage('limit', 1, 100, req.query.get('limit')),
        'limit',
      );
    }
    const all = [...this.jobs.values()].map((e) => e.job).reverse(); // newest first
    const cursor = req.query.get('cursor');
    const start = cursor ? all.findIndex((j) => j.id === Buffer.from(cursor, 'base64url').toString()) + 1 : 0;
    const data = all.slice(start, start + limit);
    const more = start + limit < all.length;
    const next = more ? Buffer.from(data[data.length - 1]!.id).toString('base64url') : null;
    return json(200, { object: 'list', data, next_cursor: next });
  }

  /** `count` deliveries of one job, one per event type in turn, the first failed and the rest succeeded. */
  seedDeliveries(count: number, jobId = newJobId()): WebhookDelivery[] {
    const added: WebhookDelivery[] = [];
    for (let i = 0; i < count; i++) {
      const at = new Date(Date.UTC(2026, 0, 1, 0, 0, this.deliveries.length)).toISOString();
      const failed = i === 0;
      const delivery: WebhookDelivery = {
        id: newMessageId(),
        object: 'webhook_delivery',
        job_id: jobId,
        dataset_id: null,
        event: GENERATION_EVENT_TYPES[i % GENERATION_EVENT_TYPES.length]!,
        url: 'https://hooks.example.com/in',
        status: failed ? 'failed' : 'succeeded',
        created_at: at,
        completed_at: at,
        next_attempt_at: null,
        attempts: [
          failed
            ? { at, manual: false, status_code: null, error: 'TypeError: fetch failed', duration_ms: 12 }
            : { at, manual: false, status_code: 204, error: null, duration_ms: 7 },
        ],
      };
      this.deliveries.push(delivery);
      added.push(delivery);
    }
    return added;
  }

  #listDeliveries(req: RecordedRequest): Reply {
    const limit = Number(req.query.get('limit') ?? 20);
    const status = req.query.get('status');
    if (status !== null && !(WEBHOOK_DELIVERY_STATUSES as readonly string[]).includes(status)) {
      return problemReply(
        'invalid_parameter',
        `'status' must be one of ${WEBHOOK_DELIVERY_STATUSES}`,
        'status',
      );
    }
    const matches = [...this.deliveries]
      .reverse()
      .filter(
        (d) =>
          (status === null || d.status === status) &&
          (req.query.get('event') === null || d.event === req.query.get('event')) &&
          (req.query.get('job_id') === null || d.job_id === req.query.get('job_id')),
      );
    const cursor = req.query.get('cursor');
    const start = cursor
      ? matches.findIndex((d) => d.id === Buffer.from(cursor, 'base64url').toString()) + 1
      : 0;
    const data = matches.slice(start, start + limit);
    const next = start + limit < matches.length ? Buffer.from(data.at(-1)!.id).toString('base64url') : null;
    return json(200, { object: 'list', data, next_cursor: next });
  }

  #redeliver(id: string): Reply {
    const delivery = this.deliveries.find((d) => d.id === id);
    if (!delivery) return problemReply('not_found', `no webhook delivery '${id}'`);
    const at = new Date().toISOString();
    delivery.attempts.push({ at, manual: true, status_code: 204, error: null, duration_ms: 3 });
    delivery.status = 'succeeded';
    delivery.completed_at = at;
    return json(200, delivery);
  }

  #rotateSecret(): Reply {
    this.webhookSecret = `whsec_${Buffer.from(randomBytes(24)).toString('base64')}`;
    const expires = new Date(Date.now() + 86_400_000).toISOString();
    return json(200, { secret: this.webhookSecret, previous_secret_expires_at: expires });
  }

  #cancel(id: string): Reply {
    const entry = this.jobs.get(id);
    if (!entry) return problemReply('not_found', `no generation ${id}`);
    if (entry.job.status !== 'queued' && entry.job.status !== 'running') {
      return problemReply('not_cancelable', `generation ${id} is already ${entry.job.status}`);
    }
    entry.job.status = 'canceled';
    entry.job.completed_at = new Date().toISOString();
    return json(200, entry.job);
  }

  #createKey(req: RecordedRequest): Reply {
    if (req.headers.authorization !== `Bearer ${ADMIN_TOKEN}`)
      return problemReply('unauthorized', 'bad admin token');
    const body = parseJson(req.body) ?? {};
    const tenant = typeof body.tenant_name === 'string' ? body.tenant_name : 'default';
    const key = `gtk_live_${'k'.repeat(31)}${'abcdefgh'[this.keys.length % 8]}`;
    this.keys.push({ tenant, key });
    const reply = { object: 'api_key', id: `key_${'a'.repeat(32)}`, key, tenant_id: `ten_${'t'.repeat(32)}` };
    return json(201, reply, { 'cache-control': 'no-store' });
  }
}

function tokensBody(id: string, rows: number[][]) {
  return {
    id,
    object: 'tokens',
    model: MODEL.id,
    codebook_size: MODEL.codebookSize,
    tokens_per_image: MODEL.tokensPerImage,
    shape: [rows.length, MODEL.tokensPerImage],
    tokens: rows,
  };
}

function modelInfo() {
  return NANO;
}

/** A 32x32 PNG whose colours come from the tokens, so different tokens give different files. */
function renderImage(row: number[]): Uint8Array {
  const rgb = new Uint8Array(MODEL.imageSize * MODEL.imageSize * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (row[i % row.length]! * 7 + i) & 0xff;
  return encodePng(MODEL.imageSize, MODEL.imageSize, rgb);
}

// biome-ignore lint/suspicious/noExplicitAny: request bodies are probed field by field, like a real handler
function parseJson(body: Uint8Array): Record<string, any> | null {
  try {
    const value = JSON.parse(new TextDecoder().decode(body));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}
