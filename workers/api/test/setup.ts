// Runs before each test file: applies the D1 migrations (applied ones are skipped) and routes the
// Worker's outgoing fetches for the backend and the webhook receiver to the stub (the Worker runs in
// this same isolate, so replacing the global fetch reaches it).
import { applyD1Migrations } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { vi } from 'vitest';
import { backend } from './backend-stub.ts';

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

const realFetch = globalThis.fetch;
vi.stubGlobal('fetch', (input: RequestInfo | URL, init?: RequestInit) =>
  backend.fetch(new Request(input, init), init?.signal ?? undefined, realFetch),
);
