// Backend pools inside workerd: the backend client given BACKEND_POOLS spreads calls over the hosts
// serving a model, moves a call refused by one host (connection refused, 429, 503) to another within
// its deadline and rests the refusing host, and routes a model only to the hosts that list it. The
// hosts are fetch handlers on made-up origins, each checking the Worker's signature.
import { env } from 'cloudflare:workers';
import { type ManifestSummary, problem, QUEUE_DEPTH_HEADER, verifyBackendRequest } from '@gigatok/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callBackend, callEveryBackend } from '../src/lib/backend/client.ts';
import { BackendError } from '../src/lib/backend/host-request.ts';
import { getModel, hostsServing, listModels } from '../src/lib/backend/models.ts';
import { headersOf } from '../src/lib/http/http-errors.ts';
import { NANO } from './backend-stub.ts';

const SECOND: ManifestSummary = { ...NANO, id: 'gigatok-second' };

type Answer = 'ok' | 'refuse' | 429 | 503 | 'hang';

/** A fake backend host: what it lists, how it answers, what it was asked. */
class Host {
  answer: Answer = 'ok';
  depth = 0;
  /** Paths asked for (GET /v1/models aside), refused ones included. */
  readonly calls: string[] = [];
  /** Calls held open until `release()` (to keep calls in flight at once). */
  hold = false;
  readonly #held: (() => void)[] = [];
  constructor(
    readonly origin: string,
    readonly models: ManifestSummary[],
  ) {}

  release(): void {
    this.hold = false;
    for (const go of this.#held.splice(0)) go();
  }

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const body = new Uint8Array(await request.arrayBuffer());
    await verifyBackendRequest({
      secrets: [env.BACKEND_SECRET],
      method: request.method,
      path: url.pathname + url.search,
      headers: request.headers,
      body,
    });
    if (url.pathname !== '/v1/models') this.calls.push(url.pathname);
    if (this.answer === 'refuse') throw new TypeError('fetch failed: connection refused');
    const headers = { 'content-type': 'application/json', [QUEUE_DEPTH_HEADER]: String(this.depth) };
    if (url.pathname === '/v1/models') {
      return new Response(JSON.stringify({ models: this.models }), { headers });
    }
    if (this.answer === 'hang') {
      return new Promise((_, reject) =>
        request.signal.addEventListener('abort', () => reject(request.signal.reason)),
      );
    }
    if (this.answer === 429 || this.answer === 503) {
      const code = this.answer === 429 ? 'queue_full' : 'backend_unavailable';
      return new Response(JSON.stringify(problem(code, 'busy')), {
        status: this.answer,
        headers: { ...headers, 'content-type': 'application/problem+json', 'retry-after': '2' },
      });
    }
    if (this.hold) await new Promise<void>((go) => this.#held.push(go));
    return new Response(JSON.stringify({ host: this.origin }), { headers });
  }
}

const hosts = new Map<string, Host>();
let previousFetch: typeof fetch;

beforeAll(() => {
  previousFetch = globalThis.fetch;
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const host = hosts.get(new URL(request.url).origin);
    return host ? host.fetch(request) : previousFetch(input, init);
  };
});

afterAll(() => {
  globalThis.fetch = previousFetch;
});

/** Fresh hosts on origins of their own (the isolate's pool state and model lists outlive a test). */
function pool(tag: string, specs: ManifestSummary[][], declared?: (string[] | undefined)[]) {
  const made = specs.map((models, i) => {
    const host = new Host(`http://${tag}-${i}.pool.test`, models);
    hosts.set(host.origin, host);
    return host;
  });
  const pools = made.map((host, i) => ({
    urls: [host.origin],
    ...(declared?.[i] ? { models: declared[i] } : {}),
  }));
  const poolEnv = { ...env, BACKEND_POOLS: JSON.stringify({ pools }) } as Env;
  return { hosts: made, env: poolEnv };
}

const encode = (model: string, timeoutMs?: number) => ({
  method: 'POST' as const,
  path: '/v1/encode',
  json: { model, images: ['AA=='] },
  ...(timeoutMs ? { timeoutMs } : {}),
});

async function servedBy(poolEnv: Env, model = NANO.id, timeoutMs?: number): Promise<string> {
  const response = await callBackend(poolEnv, encode(model, timeoutMs));
  return ((await response.json()) as { host: string }).host;
}

describe('backend pools', () => {
  it('spreads calls in flight at once evenly over the hosts serving the model', async () => {
    const {
      hosts: [a, b],
      env: poolEnv,
    } = pool('spread', [[NANO], [NANO]]);
    a!.hold = true;
    b!.hold = true;
    const calls = Array.from({ length: 20 }, () => servedBy(poolEnv));
    await new Promise((r) => setTimeout(r, 50));
    expect(a!.calls.length + b!.calls.length).toBe(20);
    expect(a!.calls.length).toBe(10);
    a!.release();
    b!.release();
    const answered = await Promise.all(calls);
    expect(answered.filter((h) => h === a!.origin)).toHaveLength(10);
  });

  it('sends calls to the host reporting the shorter queue', async () => {
    const {
      hosts: [a, b],
      env: poolEnv,
    } = pool('depth', [[NANO], [NANO]]);
    a!.depth = 40;
    // Until both have answered once, the choice is a coin toss; then the reported depths decide.
    while (a!.calls.length === 0 || b!.calls.length === 0) await servedBy(poolEnv);
    const before = a!.calls.length;
    for (let i = 0; i < 10; i++) expect(await servedBy(poolEnv)).toBe(b!.origin);
    expect(a!.calls.length).toBe(before);
  });

  for (const refusal of ['refuse', 429, 503] as const) {
    const what = refusal === 'refuse' ? 'refuses the connection' : `answers ${refusal}`;
    it(`moves a call to the other host when one ${what}, and rests that one`, async () => {
      const {
        hosts: [a, b],
        env: poolEnv,
      } = pool(`fail-${refusal}`, [[NANO], [NANO]]);
      // Both answer once; then b's deeper queue makes a the first choice.
      b!.depth = 100;
      while (a!.calls.length === 0 || b!.calls.length === 0) await servedBy(poolEnv);
      const before = a!.calls.length;
      a!.answer = refusal;
      for (let i = 0; i < 6; i++) expect(await servedBy(poolEnv)).toBe(b!.origin);
      // Tried once, then resting while b serves.
      expect(a!.calls.length - before).toBe(1);
    });
  }

  it('answers backend_unavailable with Retry-After when every host refuses', async () => {
    const {
      hosts: [a, b],
      env: poolEnv,
    } = pool('all-busy', [[NANO], [NANO]]);
    await listModels(poolEnv);
    a!.answer = 429;
    b!.answer = 'refuse';
    const error = await callBackend(poolEnv, encode(NANO.id)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).code).toBe('backend_unavailable');
    expect(headersOf(error as BackendError)['Retry-After']).toMatch(/^[0-9]+$/);
    expect(a!.calls.length).toBe(1);
    expect(b!.calls.length).toBe(1);
  });

  it('does not move a call whose deadline ran out on a slow host', async () => {
    const {
      hosts: [a, b],
      env: poolEnv,
    } = pool('slow', [[NANO], [NANO]]);
    a!.answer = 'hang';
    b!.answer = 'hang';
    const error = await callBackend(poolEnv, encode(NANO.id, 100)).catch((e: unknown) => e);
    expect((error as BackendError).code).toBe('backend_timeout');
    expect(a!.calls.length + b!.calls.length).toBe(1);
  });

  it('lists what every pool serves and routes a model only to the hosts listing it', async () => {
    const {
      hosts: [a, b],
      env: poolEnv,
    } = pool('models', [[NANO], [NANO, SECOND]]);
    expect((await listModels(poolEnv)).map((m) => m.id)).toEqual([NANO.id, SECOND.id]);
    expect(await hostsServing(poolEnv, SECOND.id)).toEqual([b!.origin]);
    for (let i = 0; i < 6; i++) expect(await servedBy(poolEnv, SECOND.id)).toBe(b!.origin);
    expect(a!.calls).toEqual([]);
  });

  it('serves from a pool naming its models only those models', async () => {
    const {
      hosts: [a, b],
      env: poolEnv,
    } = pool(
      'declared',
      [
        [NANO, SECOND],
        [NANO, SECOND],
      ],
      [[SECOND.id], undefined],
    );
    expect(await hostsServing(poolEnv, NANO.id)).toEqual([b!.origin]);
    expect(await hostsServing(poolEnv, SECOND.id)).toEqual([a!.origin, b!.origin]);
    for (let i = 0; i < 4; i++) expect(await servedBy(poolEnv, NANO.id)).toBe(b!.origin);
    expect(a!.calls).toEqual([]);
  });

  it('keeps serving the models of the hosts that answer while another is down', async () => {
    const {
      hosts: [a, b],
      env: poolEnv,
    } = pool('partial', [[NANO], [SECOND]]);
    b!.answer = 'refuse';
    expect((await listModels(poolEnv)).map((m) => m.id)).toEqual([NANO.id]);
    await expect(getModel(poolEnv, SECOND.id)).rejects.toMatchObject({ code: 'unknown_model' });
    expect(await servedBy(poolEnv)).toBe(a!.origin);
  });

  it('sends a cancel to every host', async () => {
    const {
      hosts: [a, b],
      env: poolEnv,
    } = pool('cancel', [[NANO], [NANO]]);
    await callEveryBackend(poolEnv, { method: 'POST', path: '/v1/generate/gen_x/cancel' });
    expect(a!.calls).toEqual(['/v1/generate/gen_x/cancel']);
    expect(b!.calls).toEqual(['/v1/generate/gen_x/cancel']);
  });
});
