// Small helpers for the end-to-end suites: tenants through the Worker's admin route, authenticated
// requests, polling, and the backend's Prometheus counters.
import { signBackendRequest } from '@gigatok/shared';
import { inject } from 'vitest';

export const stack = () => inject('stack');

export async function newTenant(name: string): Promise<{ key: string; tenantId: string }> {
  const { apiUrl, adminToken } = stack();
  const res = await fetch(`${apiUrl}/v1/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tenant_name: name }),
  });
  if (!res.ok) throw new Error(`admin/keys: HTTP ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { key: string; tenant_id: string };
  return { key: body.key, tenantId: body.tenant_id };
}

export function api(key: string, pathname: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  return fetch(`${stack().apiUrl}${pathname}`, { ...init, headers });
}

export function postJson(
  key: string,
  pathname: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return api(key, pathname, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

export async function until<T>(fn: () => Promise<T | null | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A POST to the GPU backend itself, signed with the Worker's secret (shared/src/backend-auth.ts); by
 * default to the stack the suites share, or to `to` (a file's own stack).
 */
export async function backendPost(
  pathname: string,
  body: unknown,
  to: { backendUrl: string; backendSecret: string } = stack(),
): Promise<Response> {
  const text = JSON.stringify(body);
  const auth = await signBackendRequest({
    secret: to.backendSecret,
    method: 'POST',
    path: pathname,
    body: text,
  });
  return fetch(to.backendUrl + pathname, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: text,
  });
}

/** Sum of a Prometheus counter over all label sets, read from the backend's /metrics. */
export async function backendCounter(
  name: string,
  labelFilter: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${stack().backendUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = m[2] ?? '';
    if (Object.entries(labelFilter).every(([k, v]) => labels.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
