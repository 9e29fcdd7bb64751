// Sends the bad-input corpus to a running stack and judges each answer: the expected status and problem
// code and field, problem+json, never a 5xx. Also reads the backend's resident memory from /metrics.
import { request } from 'node:http';
import { type Problem, ProblemSchema, signBackendRequest } from '@gigatok/shared';
import type { BadInput, RequestSpec } from './bad-inputs.ts';

export interface Target {
  apiUrl: string;
  backendUrl: string;
  backendSecret: string;
  /** An API key of the tenant the corpus runs as. */
  apiKey: string;
}

export interface Outcome {
  name: string;
  group: string;
  target: BadInput['target'];
  status: number;
  code: string | null;
  field: string | null;
  ms: number;
  /** Every way the answer differs from what the case expects; empty when it passed. */
  failures: string[];
  /** The raw answer, kept for the secret scan. */
  body: string;
  headers: string;
}

/**
 * One HTTP exchange on a connection of its own (node:http, no keep-alive pool): several cases are
 * answered before their body is read (413, 415) and the server then closes the connection, which a
 * pooled client may already be reusing for the next request ("other side closed").
 */
function exchange(url: string, method: string, headers: Headers, body: Uint8Array | string | undefined) {
  return new Promise<Response>((resolve, reject) => {
    const bytes = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
    const outgoing: Record<string, string> = {};
    headers.forEach((value, name) => {
      outgoing[name] = value;
    });
    if (bytes !== undefined) outgoing['content-length'] = String(bytes.length);
    let answered = false;
    const req = request(url, { method, headers: outgoing, agent: false, timeout: 60_000 }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const answer = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) answer.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        const status = res.statusCode ?? 0;
        const payload = status === 204 || status === 304 ? null : Buffer.concat(chunks);
        resolve(new Response(payload, { status, headers: answer }));
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
    // A server that answered early may reset the rest of a large upload: that is not a failure.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.end(bytes);
  });
}

/** Sends one request: with the API key to the Worker, or signed with the shared secret to the backend. */
export async function send(spec: RequestSpec, target: BadInput['target'], to: Target): Promise<Response> {
  const headers = new Headers(spec.headers);
  let url: string;
  if (target === 'worker') {
    url = `${to.apiUrl}${spec.path}`;
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${to.apiKey}`);
  } else {
    url = `${to.backendUrl}${spec.path}`;
    const signature = await signBackendRequest({
      secret: to.backendSecret,
      method: spec.method,
      path: spec.path,
      body: spec.body,
    });
    for (const [name, value] of Object.entries(signature)) headers.set(name, value);
  }
  const answer = await exchange(url, spec.method, headers, spec.body);
  if (target === 'worker' && (await isDevServerRestart(answer))) {
    // wrangler dev's own proxy answered: it swapped workerd processes under the request. The Worker
    // never saw it, and every corpus request is free of side effects, so it is sent once more.
    return exchange(url, spec.method, headers, spec.body);
  }
  return answer;
}

/**
 * The 503 that `wrangler dev`'s proxy (not the Worker) gives a non-GET request in flight while it
 * restarts the local runtime: plain text, Retry-After 0, a fixed sentence. The Worker's own 503s are
 * problem+json.
 */
async function isDevServerRestart(answer: Response): Promise<boolean> {
  if (answer.status !== 503 || !(answer.headers.get('content-type') ?? '').startsWith('text/plain'))
    return false;
  return (await answer.clone().text()).startsWith('Your worker restarted mid-request');
}

function tokenSetId(body: string): string | null {
  try {
    return (JSON.parse(body) as { id?: string }).id ?? null;
  } catch {
    return null;
  }
}

/** Runs one case and compares the answer with its expectation. */
export async function probe(c: BadInput, to: Target): Promise<Outcome> {
  const failures: string[] = [];
  if (c.prelude) {
    const first = await send(c.prelude, c.target, to);
    await first.arrayBuffer();
    if (first.status >= 300) failures.push(`prelude answered ${first.status}, expected 2xx`);
  }
  const started = performance.now();
  let response: Response;
  try {
    response = await send(c, c.target, to);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reset = code === 'ECONNRESET' || code === 'EPIPE';
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return {
      name: c.name,
      group: c.group,
      target: c.target,
      status: 0,
      code: null,
      field: null,
      ms: performance.now() - started,
      failures:
        reset && c.expect.resetAllowed
          ? []
          : [`no answer (${error instanceof Error ? error.message : String(error)}${cause})`],
      body: '',
      headers: '',
    };
  }
  const body = await response.text();
  const ms = performance.now() - started;
  const headerLines: string[] = [];
  response.headers.forEach((value, name) => {
    headerLines.push(`${name}: ${value}`);
  });
  const headers = headerLines.join('\n');
  const contentType = response.headers.get('content-type') ?? '';
  let problem: Problem | null = null;
  if (response.status >= 500) failures.push(`answered ${response.status} (a 5xx: ${body.slice(0, 300)})`);
  if (response.status !== c.expect.status)
    failures.push(`status ${response.status}, expected ${c.expect.status}`);
  if (c.expect.status >= 400 && c.expect.problemJson !== false) {
    if (!contentType.startsWith('application/problem+json')) {
      failures.push(`content-type '${contentType}', expected application/problem+json`);
    }
    const parsed = ProblemSchema.safeParse(safeJson(body));
    if (!parsed.success) failures.push(`body is not a problem: ${body.slice(0, 200)}`);
    else {
      problem = parsed.data;
      if (problem.status !== response.status)
        failures.push(`problem.status ${problem.status} != ${response.status}`);
      if (c.expect.code && problem.code !== c.expect.code) {
        failures.push(`code '${problem.code}', expected '${c.expect.code}' (${problem.detail})`);
      }
      if (c.expect.field !== undefined && problem.field !== c.expect.field) {
        failures.push(`field '${problem.field}', expected '${c.expect.field}' (${problem.detail})`);
      }
      if (problem.detail.trim() === '') failures.push('empty detail');
    }
  }
  if (c.sameTokensAs && response.status === 200) {
    const clean = await send({ ...c, body: c.sameTokensAs, prelude: undefined } as RequestSpec, c.target, to);
    const cleanBody = await clean.text();
    const [a, b] = [tokenSetId(body), tokenSetId(cleanBody)];
    if (!a || a !== b) failures.push(`token set ${a} differs from the clean image's ${b}`);
  }
  return {
    name: c.name,
    group: c.group,
    target: c.target,
    status: response.status,
    code: problem?.code ?? null,
    field: problem?.field ?? null,
    ms,
    failures,
    body,
    headers,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Runs cases a few at a time (the corpus is about isolation, not load). */
export async function runCorpus(cases: BadInput[], to: Target, concurrency = 4): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(cases.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < cases.length; i = next++) outcomes[i] = await probe(cases[i]!, to);
    }),
  );
  return outcomes;
}

/** A Prometheus gauge or counter from the backend's /metrics, summed over the series matching `labels`. */
export async function backendMetric(
  backendUrl: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${backendUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) continue;
    sum += Number(m[3]);
    seen = true;
  }
  if (!seen) throw new Error(`no metric ${name} at ${backendUrl}/metrics`);
  return sum;
}

/** Whether both servers answer their probes: Worker /v1/healthz 200, backend /healthz and /readyz 200. */
export async function healthy(to: Pick<Target, 'apiUrl' | 'backendUrl'>): Promise<Record<string, number>> {
  const status = async (url: string) => (await fetch(url, { signal: AbortSignal.timeout(10_000) })).status;
  return {
    'worker /v1/healthz': await status(`${to.apiUrl}/v1/healthz`),
    'backend /healthz': await status(`${to.backendUrl}/healthz`),
    'backend /readyz': await status(`${to.backendUrl}/readyz`),
  };
}

/** Places where any of `secrets` appears in `texts` (name of the text and which secret), for the leak scan. */
export function findSecrets(
  texts: { where: string; text: string }[],
  secrets: { name: string; value: string }[],
): string[] {
  const found: string[] = [];
  for (const { where, text } of texts) {
    for (const secret of secrets) {
      if (secret.value.length >= 8 && text.includes(secret.value)) found.push(`${secret.name} in ${where}`);
    }
  }
  return found;
}
