// GigaTokClient: the typed client of the public GigaTok Edge API (/v1). Every response is parsed at
// the boundary with shared's zod schemas or the GTOK decoder; failures are typed exceptions.

import { formatIdempotencyKey, TOKENS_MEDIA_TYPE } from '@gigatok/shared';
import { DatasetsApi } from './datasets.ts';
import { GigaTokResponseError, GigaTokTimeoutError } from './errors.ts';
import { type JobEventsOptions, type JobStreamEvent, jobEvents } from './events.ts';
import {
  buildUrl,
  type HttpResponse,
  openStream,
  type RequestSpec,
  type RetryEvent,
  send,
  type TransportOptions,
} from './http.ts';
import { toImageBlob } from './images.ts';
import {
  type ImageResult,
  type NotModified,
  readBinaryTokens,
  readImage,
  readJson,
  readJsonTokens,
  type TokenFormat,
  type TokensFor,
} from './responses.ts';
import { type BackoffOptions, DEFAULT_BACKOFF, sleep } from './retry.ts';
import {
  type CreateGenerationParams,
  type CreateVariationParams,
  type EmbeddingParams,
  type EmbeddingResponse,
  EmbeddingResponseSchema,
  type Generation,
  type GenerationList,
  GenerationListSchema,
  GenerationSchema,
  type HealthResponse,
  HealthResponseSchema,
  isTerminal,
  type ModelInfo,
  ModelListSchema,
  type TerminalStatus,
  type WebhookDelivery,
  type WebhookDeliveryList,
  WebhookDeliveryListSchema,
  WebhookDeliverySchema,
  type WebhookDeliveryStatus,
  type WebhookEventType,
  type WebhookSecretRotation,
  WebhookSecretRotationSchema,
  WebhookSecretSchema,
} from './schemas.ts';
export const DEFAULT_TIMEOUT_MS = 60_000;
const VERSION = '0.1.0';

export interface GigaTokClientOptions {
  /** API origin (and optional path prefix), e.g. `https://api.example.com` or `http://127.0.0.1:8787`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string | undefined;
  /** A fetch implementation; defaults to the global one. */
  fetch?: typeof globalThis.fetch | undefined;
  /** Retries after a 429/503 or (idempotent requests only) a network error. Default 3. */
  maxRetries?: number | undefined;
  /** Per-attempt timeout in ms. Default 60 s. */
  timeoutMs?: number | undefined;
  /** Backoff when the server gives no Retry-After. Default 250 ms doubling, capped at 8 s. */
  backoff?: Partial<BackoffOptions> | undefined;
  /** A Retry-After longer than this is not waited for; the error is thrown. Default 60 s. */
  maxRetryAfterMs?: number | undefined;
  /** Called before each retry (for logging). */
  onRetry?: ((event: RetryEvent) => void) | undefined;
  userAgent?: string | undefined;
}

export interface RequestOptions {
  signal?: AbortSignal | undefined;
  /** Overrides the client's per-attempt timeout for this call. */
  timeoutMs?: number | undefined;
}

export interface TokenizeOptions<F extends TokenFormat> extends RequestOptions {
  model?: string | undefined;
  format?: F | undefined;
}

export interface GetTokensOptions<F extends TokenFormat> extends RequestOptions {
  format?: F | undefined;
  /** An ETag from an earlier response; a 304 then resolves to `{ notModified: true }`. */
  ifNoneMatch?: string | undefined;
}

export interface DetokenizeInput {
  /** One image's tokens: a row of length T, or `[row]`. Exactly one of tokens / tokenId. */
  tokens?: readonly number[] | readonly (readonly number[])[] | Uint32Array | undefined;
  tokenId?: string | undefined;
  model?: string | undefined;
  format?: 'png' | 'webp' | undefined;
}

export interface CreateGenerationOptions extends RequestOptions {
  /**
   * Makes the POST safe to retry: the same key and body return the same job. A random key is made
   * when absent; pass `false` to send none (the request is then never retried).
   */
  idempotencyKey?: string | false | undefined;
  /** Seconds the server may hold the request for the job to finish (`Prefer: wait=N`, N <= 60). */
  wait?: number | undefined;
}

export interface GenerateProgress {
  job: Generation;
  elapsedMs: number;
}

export interface GenerateOptions extends CreateGenerationOptions {
  /** Called with each job snapshot observed (after the submit, then after every poll). */
  onProgress?: ((progress: GenerateProgress) => void) | undefined;
  /**
   * Follow the job's event stream (GET /v1/generations/{id}/events) instead of polling; polling takes
   * over if the stream fails. Default false.
   */
  events?: boolean | undefined;
  /** With `events`: called with each event (queued, running, then the final one). */
  onEvent?: ((event: JobStreamEvent) => void) | undefined;
  /** With `events`: called when the stream failed and polling took over. */
  onEventsError?: ((error: unknown) => void) | undefined;
  /** Delay between polls. Default 1000 ms. */
  pollIntervalMs?: number | undefined;
  /** Give up waiting (GigaTokTimeoutError; the job keeps running) after this long. Default 10 min. */
  waitTimeoutMs?: number | undefined;
  /** On abort, cancel the job on the server before rejecting. Default true. */
  cancelOnAbort?: boolean | undefined;
}

export interface ListOptions extends RequestOptions {
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface ListWebhookDeliveriesOptions extends ListOptions {
  /** Only the deliveries of this generation (`job_…`). */
  jobId?: string | undefined;
  /** Only the deliveries of this dataset's runs (`ds_…`). */
  datasetId?: string | undefined;
  event?: WebhookEventType | undefined;
  status?: WebhookDeliveryStatus | undefined;
}

export interface GenerationEventsOptions extends JobEventsOptions {
  /** How long each connection may take to answer with its headers. Default: the client's timeout. */
  timeoutMs?: number | undefined;
}

/** `client.generations`: the generation jobs, by resource (the flat methods do the same). */
export interface GenerationsResource {
  create(params: CreateGenerationParams, options?: CreateGenerationOptions): Promise<Generation>;
  get(id: string, options?: RequestOptions): Promise<Generation>;
  list(options?: ListOptions): Promise<GenerationList>;
  cancel(id: string, options?: RequestOptions): Promise<Generation>;
  /**
   * The job's events as an async iterator: its current state, each later one, and the final one
   * (succeeded, failed or canceled), after which it ends. Reconnects with Last-Event-ID.
   */
  events(id: string, options?: GenerationEventsOptions): AsyncGenerator<JobStreamEvent, void, undefined>;
}

export class GigaTokClient {
  readonly #transport: TransportOptions;
  readonly generations: GenerationsResource;
  /** /v1/datasets: create, addImages, run, get, list, cancel, wait, download, manifest (datasets.ts). */
  readonly datasets: DatasetsApi;

  constructor(options: GigaTokClientOptions) {
    if (!options || typeof options.baseUrl !== 'string' || !URL.canParse(options.baseUrl)) {
      throw new TypeError(`'baseUrl' must be an absolute URL, got ${JSON.stringify(options?.baseUrl)}`);
    }
    const maxRetries = options.maxRetries ?? 3;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) {
      throw new RangeError(`'maxRetries' must be an integer >= 0, got ${maxRetries}`);
    }
    const fetchImpl = options.fetch ?? globalThis.fetch;
    this.#transport = {
      baseUrl: options.baseUrl,
      apiKey: options.apiKey,
      // Bound so a method-less global fetch is not called with `this` set to the options object.
      fetch: (input, init) => fetchImpl(input, init),
      maxRetries,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
      userAgent: options.userAgent ?? `gigatok-client/${VERSION}`,
      onRetry: options.onRetry,
    };
    this.datasets = new DatasetsApi((spec) => this.request(spec));
    this.generations = Object.freeze({
      create: (params: CreateGenerationParams, opts?: CreateGenerationOptions) =>
        this.createGeneration(params, opts),
      get: (id: string, opts?: RequestOptions) => this.getGeneration(id, opts),
      list: (opts?: ListOptions) => this.listGenerations(opts),
      cancel: (id: string, opts?: RequestOptions) => this.cancelGeneration(id, opts),
      events: (id: string, opts?: GenerationEventsOptions) => this.#generationEvents(id, opts),
    });
  }

  /** GET /v1/generations/{id}/events, one connection per (re)connect; jobEvents owns the reconnecting. */
  #generationEvents(
    id: string,
    options: GenerationEventsOptions = {},
  ): AsyncGenerator<JobStreamEvent, void, undefined> {
    const path = `/v1/generations/${encodeURIComponent(id)}/events`;
    const open = (lastEventId: string | undefined, signal: AbortSignal | undefined) =>
      openStream(this.#transport, {
        method: 'GET',
        path,
        headers: { accept: 'text/event-stream', 'last-event-id': lastEventId },
        retry: 'never',
        signal,
        timeoutMs: options.timeoutMs,
      });
    return jobEvents(open, { method: 'GET', url: buildUrl(this.#transport.baseUrl, path) }, options);
  }

  get baseUrl(): string {
    return this.#transport.baseUrl;
  }

  /** Low-level escape hatch: one request through the client's auth, timeout and retry handling. */
  request(spec: RequestSpec): Promise<HttpResponse> {
    return send(this.#transport, spec);
  }

  /** POST /v1/tokenize: image -> tokens. Content-addressed on the server, so safe to retry. */
  async tokenize<F extends TokenFormat = 'json'>(
    image: Uint8Array | Blob,
    options: TokenizeOptions<F> = {},
  ): Promise<TokensFor<F>> {
    const form = new FormData();
    form.set('image', await toImageBlob(image), 'image');
    if (options.model !== undefined) form.set('model', options.model);
    const binary = options.format === 'binary';
    const response = await this.request({
      method: 'POST',
      path: '/v1/tokenize',
      headers: { accept: binary ? TOKENS_MEDIA_TYPE : 'application/json' },
      body: form,
      retry: 'idempotent',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return (
      binary ? await readBinaryTokens(response, null) : await readJsonTokens(response, null)
    ) as TokensFor<F>;
  }

  /** GET /v1/tokens/{id}; with `ifNoneMatch`, a 304 resolves to `{ notModified: true }`. */
  getTokens<F extends TokenFormat = 'json'>(
    id: string,
    options?: GetTokensOptions<F> & { ifNoneMatch?: undefined },
  ): Promise<TokensFor<F>>;
  getTokens<F extends TokenFormat = 'json'>(
    id: string,
    options: GetTokensOptions<F> & { ifNoneMatch: string },
  ): Promise<TokensFor<F> | NotModified>;
  async getTokens<F extends TokenFormat = 'json'>(
    id: string,
    options: GetTokensOptions<F> = {},
  ): Promise<TokensFor<F> | NotModified> {
    const binary = options.format === 'binary';
    const response = await this.request({
      method: 'GET',
      path: `/v1/tokens/${encodeURIComponent(id)}`,
      headers: {
        accept: binary ? TOKENS_MEDIA_TYPE : 'application/json',
        'if-none-match': options.ifNoneMatch,
      },
      accept: [304],
      retry: 'idempotent',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    if (response.status === 304) return { notModified: true, etag: response.headers.get('etag') };
    // Both readers check that the tokens received are the ones `id` names (ids are content hashes).
    return (
      binary ? await readBinaryTokens(response, id) : await readJsonTokens(response, id)
    ) as TokensFor<F>;
  }

  /** POST /v1/detokenize: tokens (inline or by id) -> image bytes. */
  async detokenize(input: DetokenizeInput, options: RequestOptions = {}): Promise<ImageResult> {
    if ((input.tokens === undefined) === (input.tokenId === undefined)) {
      throw new TypeError("detokenize takes exactly one of 'tokens' and 'tokenId'");
    }
    const body: Record<string, unknown> = {};
    if (input.tokens !== undefined) body.tokens = tokensToJson(input.tokens);
    if (input.tokenId !== undefined) body.token_id = input.tokenId;
    if (input.model !== undefined) body.model = input.model;
    if (input.format !== undefined) body.format = input.format;
    const response = await this.request({
      method: 'POST',
      path: '/v1/detokenize',
      headers: { 'content-type': 'application/json', accept: 'image/*' },
      body: JSON.stringify(body),
      retry: 'idempotent',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return readImage(response, response.headers.get('x-image-id'));
  }

  /** GET /v1/images/{id}; with `ifNoneMatch`, a 304 resolves to `{ notModified: true }`. */
  getImage(id: string, options?: RequestOptions & { ifNoneMatch?: undefined }): Promise<ImageResult>;
  getImage(id: string, options: RequestOptions & { ifNoneMatch: string }): Promise<ImageResult | NotModified>;
  async getImage(
    id: string,
    options: RequestOptions & { ifNoneMatch?: string | undefined } = {},
  ): Promise<ImageResult | NotModified> {
    const response = await this.request({
      method: 'GET',
      path: `/v1/images/${encodeURIComponent(id)}`,
      headers: { accept: 'image/*', 'if-none-match': options.ifNoneMatch },
      accept: [304],
      retry: 'idempotent',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    if (response.status === 304) return { notModified: true, etag: response.headers.get('etag') };
    return readImage(response, id);
  }

  /**
   * POST /v1/generations: submits a job and returns it (queued, or finished when `wait` allowed).
   * Retried only with an Idempotency-Key, which is generated unless `idempotencyKey: false`.
   */
  async createGeneration(
    params: CreateGenerationParams,
    options: CreateGenerationOptions = {},
  ): Promise<Generation> {
    return this.#submitJob('/v1/generations', params, options);
  }

  /**
   * POST /v1/variations: variations of an image (keep its first tokens, sample the rest), a generation
   * job with createGeneration's options (Idempotency-Key, `wait`); poll it with getGeneration.
   */
  async createVariation(
    params: CreateVariationParams,
    options: CreateGenerationOptions = {},
  ): Promise<Generation> {
    return this.#submitJob('/v1/variations', params, options);
  }

  /**
   * POST /v1/embeddings: the AR representation of one image (base64 `image` or `token_id`) as a
   * Float32Array; `cached` tells whether the server had it stored (X-Cache: hit).
   */
  async embedding(
    params: EmbeddingParams,
    options: RequestOptions = {},
  ): Promise<Omit<EmbeddingResponse, 'embedding'> & { embedding: Float32Array; cached: boolean }> {
    const response = await this.request({
      method: 'POST',
      path: '/v1/embeddings',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(params),
      // Same body, same stored vector: safe to repeat.
      retry: 'idempotent',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    const cached = response.headers.get('x-cache') === 'hit';
    const body = await readJson(response, EmbeddingResponseSchema);
    return { ...body, embedding: Float32Array.from(body.embedding), cached };
  }

  async #submitJob(
    path: string,
    params: CreateGenerationParams | CreateVariationParams,
    options: CreateGenerationOptions,
  ): Promise<Generation> {
    const key =
      options.idempotencyKey === false ? undefined : (options.idempotencyKey ?? crypto.randomUUID());
    const wait = options.wait;
    if (wait !== undefined && (!Number.isInteger(wait) || wait < 0 || wait > 60)) {
      throw new RangeError(`'wait' must be an integer in [0, 60], got ${wait}`);
    }
    // The server may hold the request for `wait` seconds: give the attempt that long plus margin.
    const timeoutMs = Math.max(options.timeoutMs ?? this.#transport.timeoutMs, (wait ?? 0) * 1000 + 15_000);
    const response = await this.request({
      method: 'POST',
      path,
      headers: {
        'content-type': 'application/json',
        // The draft's structured-field string form; the server reads `"k"` and `k` as the same key.
        'idempotency-key': key === undefined ? undefined : idempotencyHeader(key),
        prefer: wait ? `wait=${wait}` : undefined,
      },
      body: JSON.stringify(params),
      retry: key ? 'idempotent' : 'never',
      signal: options.signal,
      timeoutMs,
    });
    return readJson(response, GenerationSchema);
  }

  /**
   * Submits a generation and waits until it is terminal (succeeded, failed or canceled), first with
   * `Prefer: wait` (default 10 s) and then by polling. Resolves with the terminal job whatever its
   * status; rejects with GigaTokTimeoutError after `waitTimeoutMs`, or with the signal's reason on
   * abort (after canceling the job, unless `cancelOnAbort: false`).
   */
  async generate(
    params: CreateGenerationParams,
    options: GenerateOptions = {},
  ): Promise<Generation & { status: TerminalStatus }> {
    const started = Date.now();
    const waitTimeoutMs = options.waitTimeoutMs ?? 600_000;
    const pollIntervalMs = options.pollIntervalMs ?? 1000;
    const { signal } = options;
    const report = (job: Generation) => options.onProgress?.({ job, elapsedMs: Date.now() - started });
    const remaining = () => waitTimeoutMs - (Date.now() - started);

    let job = await this.createGeneration(params, {
      ...options,
      wait: options.wait ?? Math.max(0, Math.min(10, Math.floor(waitTimeoutMs / 1000))),
    });
    report(job);
    try {
      if (options.events && !isTerminal(job)) job = await this.#followEvents(job, options, remaining, report);
      while (!isTerminal(job)) {
        if (remaining() <= 0) {
          throw new GigaTokTimeoutError(
            `generation ${job.id} still ${job.status} after ${waitTimeoutMs} ms; it keeps running on the server`,
            { jobId: job.id, lastStatus: job.status },
          );
        }
        await sleep(Math.min(pollIntervalMs, remaining()), signal);
        job = await this.getGeneration(job.id, { signal, timeoutMs: options.timeoutMs });
        report(job);
      }
      return job;
    } catch (error) {
      if (signal?.aborted && options.cancelOnAbort !== false && !isTerminal(job)) {
        // Best effort: the caller asked us to stop, so do not leave the job burning GPU time.
        await this.cancelGeneration(job.id, { timeoutMs: 5_000 }).catch(() => undefined);
      }
      throw error;
    }
  }

  /**
   * generate()'s event path: the job's events until the final one (its generation then returned), or
   * until the stream fails or the wait runs out (the job as it was then returned, for polling to go on).
   * The caller's abort is rethrown.
   */
  async #followEvents(
    job: Generation,
    options: GenerateOptions,
    remaining: () => number,
    report: (job: Generation) => void,
  ): Promise<Generation> {
    const { signal } = options;
    const outOfTime = new AbortController();
    const timer = setTimeout(() => outOfTime.abort(), Math.max(remaining(), 0));
    try {
      const events = this.#generationEvents(job.id, {
        signal: signal ? AbortSignal.any([signal, outOfTime.signal]) : outOfTime.signal,
        timeoutMs: options.timeoutMs,
      });
      for await (const event of events) {
        options.onEvent?.(event);
        if (event.type === 'succeeded' || event.type === 'failed' || event.type === 'canceled') {
          report(event.generation);
          return event.generation;
        }
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      if (!outOfTime.signal.aborted) options.onEventsError?.(error);
    } finally {
      clearTimeout(timer);
    }
    return job;
  }

  /** GET /v1/generations/{id}. */
  async getGeneration(id: string, options: RequestOptions = {}): Promise<Generation> {
    const response = await this.request({
      method: 'GET',
      path: `/v1/generations/${encodeURIComponent(id)}`,
      retry: 'idempotent',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return readJson(response, GenerationSchema);
  }

  /** GET /v1/generations: one page, newest first; pass `next_cursor` back as `cursor`. */
  async listGenerations(options: ListOptions = {}): Promise<GenerationList> {
    const response = await this.request({
      method: 'GET',
      path: '/v1/generations',
      query: { limit: options.limit, cursor: options.cursor },
      retry: 'idempotent',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return readJson(response, GenerationListSchema);
  }

  /** Every generation, page after page (`limit` is the page size): `for await (const job of ...)`. */
  iterateGenerations(options: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<Generation, void, undefined> {
    return this.#everyPage('/v1/generations', (cursor) => this.listGenerations({ ...options, cursor }));
  }

  /** Follows `next_cursor` from the first page to the last, yielding every item. */
  async *#everyPage<T>(
    path: string,
    page: (cursor: string | undefined) => Promise<{ data: T[]; next_cursor: string | null }>,
  ): AsyncGenerator<T, void, undefined> {
    let cursor: string | undefined;
    const seen = new Set<string>();
    do {
      const current = await page(cursor);
      yield* current.data;
      const next = current.next_cursor ?? undefined;
      // A server that hands back a cursor it already gave would loop forever: stop instead.
      if (next !== undefined && seen.has(next)) {
        throw new GigaTokResponseError(`GET ${path} returned cursor ${next} twice`, {
          status: 200,
          method: 'GET',
          url: path,
        });
      }
      if (next !== undefined) seen.add(next);
      cursor = next;
    } while (cursor !== undefined);
  }

  /** POST /v1/generations/{id}/cancel; a job already finished is a 409 `not_cancelable`. */
  async cancelGeneration(id: string, options: RequestOptions = {}): Promise<Generation> {
    const response = await this.request({
      method: 'POST',
      path: `/v1/generations/${encodeURIComponent(id)}/cancel`,
      // Not retried after a network error: a lost reply to a cancel that worked would turn into 409.
      retry: 'refused-only',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return readJson(response, GenerationSchema);
  }

  /** GET /v1/webhooks/secret: the tenant's `whsec_` secret for verifyWebhook. */
  async getWebhookSecret(options: RequestOptions = {}): Promise<{ secret: string }> {
    const response = await this.request({
      method: 'GET',
      path: '/v1/webhooks/secret',
      retry: 'idempotent',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return readJson(response, WebhookSecretSchema);
  }

  /**
   * POST /v1/webhooks/secret/rotate: a new `whsec_` secret, shown only in this reply. The previous one
   * keeps signing (as a second signature) until `previous_secret_expires_at`. Not retried after a
   * network error: a second rotation would end the first one's overlap window.
   */
  async rotateWebhookSecret(options: RequestOptions = {}): Promise<WebhookSecretRotation> {
    const response = await this.request({
      method: 'POST',
      path: '/v1/webhooks/secret/rotate',
      retry: 'refused-only',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return readJson(response, WebhookSecretRotationSchema);
  }

  /** GET /v1/webhooks/deliveries: one page, newest first, each delivery with its attempts. */
  async listWebhookDeliveries(options: ListWebhookDeliveriesOptions = {}): Promise<WebhookDeliveryList> {
    const response = await this.request({
      method: 'GET',
      path: '/v1/webhooks/deliveries',
      query: {
        job_id: options.jobId,
        dataset_id: options.datasetId,
        event: options.event,
        status: options.status,
        limit: options.limit,
        cursor: options.cursor,
      },
      retry: 'idempotent',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return readJson(response, WebhookDeliveryListSchema);
  }

  /** Every webhook delivery matching the filters, page after page. */
  iterateWebhookDeliveries(
    options: Omit<ListWebhookDeliveriesOptions, 'cursor'> = {},
  ): AsyncGenerator<WebhookDelivery, void, undefined> {
    return this.#everyPage('/v1/webhooks/deliveries', (cursor) =>
      this.listWebhookDeliveries({ ...options, cursor }),
    );
  }

  /**
   * POST /v1/webhooks/deliveries/{id}/redeliver: sends the delivery again now (same webhook-id, fresh
   * signature) and returns it with the new attempt last; the receiver's answer is in that attempt.
   * Not retried after a network error, so one call sends at most one more request to the receiver.
   */
  async redeliverWebhook(id: string, options: RequestOptions = {}): Promise<WebhookDelivery> {
    const response = await this.request({
      method: 'POST',
      path: `/v1/webhooks/deliveries/${encodeURIComponent(id)}/redeliver`,
      retry: 'refused-only',
      signal: options.signal,
      // The server waits for the receiver (up to 10 s) before answering.
      timeoutMs: options.timeoutMs,
    });
    return readJson(response, WebhookDeliverySchema);
  }

  /** GET /v1/healthz: liveness of the API (no API key needed); a 503 while degraded is an error. */
  async health(options: RequestOptions = {}): Promise<HealthResponse> {
    const response = await this.request({
      method: 'GET',
      path: '/v1/healthz',
      retry: 'idempotent',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return readJson(response, HealthResponseSchema);
  }

  /** GET /v1/models: the models the API serves. */
  async models(options: RequestOptions = {}): Promise<ModelInfo[]> {
    const response = await this.request({
      method: 'GET',
      path: '/v1/models',
      retry: 'idempotent',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return readJson(response, ModelListSchema).data;
  }
}

function tokensToJson(tokens: NonNullable<DetokenizeInput['tokens']>): number[] | number[][] {
  if (tokens instanceof Uint32Array) return Array.from(tokens);
  const items: readonly (number | readonly number[])[] = tokens;
  return items.map((t) => (typeof t === 'number' ? t : [...t])) as number[] | number[][];
}

/** The Idempotency-Key header for `key`; a key the header cannot carry is the caller's mistake. */
function idempotencyHeader(key: string): string {
  try {
    return formatIdempotencyKey(key);
  } catch (error) {
    throw new RangeError(`'idempotencyKey' cannot be sent: ${(error as Error).message}`);
  }
}
