// The CLI's argument handling and exit codes, in-process through main() with captured streams (fast
// enough to cover every usage error); the child-process suite (cli.test.ts) covers real runs.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodePng } from '@gigatok/shared/testing/png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../src/cli/context.ts';
import { main, splitCommand } from '../src/cli.ts';
import { API_KEY, FakeApi, type RecordedRequest } from './fake-api.ts';

let api: FakeApi;

beforeAll(async () => {
  api = await FakeApi.start();
});
afterAll(async () => {
  await api.close();
});

/** A queued job, created straight through HTTP. */
async function createJob(server: FakeApi, body: object): Promise<string> {
  const res = await fetch(`${server.url}/v1/generations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return ((await res.json()) as { id: string }).id;
}

const bodyOf = (r: RecordedRequest) => JSON.parse(new TextDecoder().decode(r.body));

async function run(argv: string[], env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const ctx: CliContext = {
    stdout: { write: (t) => (stdout += typeof t === 'string' ? t : new TextDecoder().decode(t)) },
    stderr: { write: (t) => (stderr += typeof t === 'string' ? t : new TextDecoder().decode(t)) },
    env: { GIGATOK_API_URL: api.url, GIGATOK_API_KEY: API_KEY, ...env },
    signal: new AbortController().signal,
  };
  const code = await main(argv, ctx);
  return { code, stdout, stderr };
}

describe('usage errors exit 2 and send nothing', () => {
  const cases: [string, string[], RegExp][] = [
    ['a non-integer count', ['--count', 'four'], /'--count' must be an integer in \[1, 16\], got "four"/],
    ['a count over 16', ['--count', '17'], /'--count' must be an integer in \[1, 16\]/],
    ['an unknown schedule', ['--schedule', 'cosine'], /'--schedule' must be one of constant, step/],
    ['a cfg above 20', ['--cfg', '21'], /'--cfg' must be a number in \[0, 20\]/],
    ['a zero temperature', ['--temperature', '0'], /'--temperature' must be a number/],
    ['a negative top-k', ['--top-k', '-1'], /'--top-k'/],
    ['a top-p above 1', ['--top-p', '1.5'], /'--top-p' must be a number/],
    ['a seed above 2^32-1', ['--seed', '4294967296'], /'--seed' must be an integer in \[0, 4294967295\]/],
    [
      'a count that contradicts a class list',
      ['--class', '1,2', '--count', '3'],
      /'--count' is 3 but '--class' lists 2/,
    ],
    ['an unknown flag', ['--bogus'], /Unknown option '--bogus'/],
    ['a stray positional', ['extra'], /unexpected argument "extra"/],
  ];
  for (const [what, args, message] of cases) {
    it(`generate rejects ${what}`, async () => {
      const before = api.requests.length;
      const result = await run(['generate', '--class', '1', ...args]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toContain('Usage: gigatok generate');
      expect(api.requests.length).toBe(before);
    });
  }

  it('refuses to run without an API key', async () => {
    const result = await run(['models'], { GIGATOK_API_KEY: undefined });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no API key: set GIGATOK_API_KEY or pass --api-key');
  });

  it('refuses keys create without an admin token', async () => {
    const result = await run(['keys', 'create']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('GIGATOK_ADMIN_TOKEN');
  });

  it('rejects an unknown command, a missing command and an unknown jobs subcommand', async () => {
    expect((await run(['frobnicate'])).code).toBe(2);
    expect((await run([])).code).toBe(2);
    const jobs = await run(['jobs', 'explode']);
    expect(jobs.code).toBe(2);
    expect(jobs.stderr).toContain('unknown jobs command "explode"');
  });

  it('detokenize refuses to run without --out', async () => {
    const before = api.requests.length;
    const result = await run(['detokenize', 'tokens.gtok']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("'--out' is required");
    expect(api.requests.length).toBe(before);
  });

  it('rejects an --api-url that is not a URL', async () => {
    const result = await run(['models', '--api-url', 'not a url']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("'--api-url' must be an absolute URL");
  });
});

describe('help, errors and global options', () => {
  it('lists every command for --help with exit 0', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    for (const name of ['tokenize', 'detokenize', 'generate', 'jobs', 'webhooks', 'keys', 'models']) {
      expect(result.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    }
  });

  it('takes the API URL and key from flags over the environment', async () => {
    const result = await run(['models', '--api-url', api.url, '--api-key', API_KEY], {
      GIGATOK_API_URL: 'http://127.0.0.1:9',
      GIGATOK_API_KEY: 'gtk_live_wrong',
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('gigatok-nano');
  });

  it('prints a command usage with --help and exit 0', async () => {
    const result = await run(['detokenize', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: gigatok detokenize');
    expect(result.stdout).toContain('--api-url URL');
  });

  it('finds the command after global options', () => {
    expect(splitCommand(['--api-url', 'http://x', 'jobs', 'get', 'job_1'])).toEqual({
      name: 'jobs',
      rest: ['--api-url', 'http://x', 'get', 'job_1'],
    });
    expect(splitCommand(['--api-key=abc', 'models'])).toEqual({ name: 'models', rest: ['--api-key=abc'] });
  });

  it('prints an API problem with its code and status and exits 1', async () => {
    const result = await run(['models'], { GIGATOK_API_KEY: 'gtk_live_wrong' });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('error: missing or unknown API key (unauthorized, HTTP 401)\n');
  });

  it('reports an unreachable API as an error with exit 1, not a crash', async () => {
    const result = await run(['jobs', 'get', 'job_x', '--api-url', 'http://127.0.0.1:9']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: GET http:\/\/127\.0\.0\.1:9\/v1\/generations\/job_x failed/m);
    expect(result.stderr).toMatch(/^retry 3 in /m); // idempotent: retried before giving up
  });

  it('generate prints the rejected field and exits 1 when the API refuses a parameter', async () => {
    const result = await run(['generate', '--class', '1', '--top-k', '5000']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "error: 'top_k' must be in [0, 1024], got 5000 (invalid_parameter, HTTP 400)\n  field: top_k\n",
    );
  });

  it('tokenize --json prints the token set as the API sent it', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'gigatok-main-')), 'img.png');
    await writeFile(path, encodePng(2, 2, new Uint8Array(12).fill(9)));
    const result = await run(['tokenize', path, '--json']);
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(Object.keys(body).sort()).toEqual([
      'codebook_size',
      'id',
      'model',
      'object',
      'shape',
      'tokens',
      'tokens_per_image',
    ]);
    expect(body.tokens).toEqual(api.tokens.get(body.id));
    await rm(dirname(path), { recursive: true });
  });

  it('detokenize by token id writes the image the API rendered', async () => {
    const id = await api.putTokens([Array.from({ length: 32 }, (_, i) => i)]);
    const out = join(await mkdtemp(join(tmpdir(), 'gigatok-main-')), 'nested', 'img.png');
    const result = await run(['detokenize', id, '--out', out]);
    expect(result.code).toBe(0);
    const imageId = result.stdout.trim();
    expect(new Uint8Array(await readFile(out))).toEqual(api.images.get(imageId));
    await rm(dirname(dirname(out)), { recursive: true });
  });

  it('generate sends every sampling flag under its API name and prints the job with --json', async () => {
    const result = await run([
      'generate',
      ...['--class', '1,none,3', '--cfg', '1.75', '--schedule', 'step', '--temperature', '0.9'],
      ...['--top-k', '100', '--top-p', '0.95', '--seed', '4294967295', '--json', '--poll-ms', '10'],
    ]);
    expect(result.code).toBe(0);
    const job = JSON.parse(result.stdout);
    expect(job).toMatchObject({ status: 'succeeded', params: { class_ids: [1, null, 3], seed: 4294967295 } });
    const sent = api.requests.filter((r) => r.method === 'POST' && r.path === '/v1/generations').at(-1);
    expect(bodyOf(sent!)).toEqual({
      class_id: [1, null, 3],
      seed: 4294967295,
      cfg_scale: 1.75,
      cfg_schedule: 'step',
      temperature: 0.9,
      top_k: 100,
      top_p: 0.95,
    });
  });

  it('generate exits 1 when the job fails, with the problem detail', async () => {
    const failing = await FakeApi.start({ failJobs: true, pollsToFinish: 1 });
    const result = await run(['generate', '--class', '2', '--poll-ms', '10'], {
      GIGATOK_API_URL: failing.url,
    });
    await failing.close();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: generation job_\w+ failed: the backend failed to sample$/m);
  });

  it('jobs --all --json walks every page, newest first', async () => {
    const fresh = await FakeApi.start();
    const env = { GIGATOK_API_URL: fresh.url };
    for (const cls of [1, 2, 3]) await createJob(fresh, { class_id: cls });
    const all = await run(['jobs', 'list', '--all', '--limit', '1', '--json'], env);
    await fresh.close();
    expect(all.code).toBe(0);
    const listed = (JSON.parse(all.stdout).data as { id: string }[]).map((j) => j.id);
    expect(listed).toEqual([...fresh.jobs.keys()].reverse());
    expect(fresh.requests.filter((r) => r.method === 'GET')).toHaveLength(3);
  });

  it('jobs cancel of a job already canceled exits 1 with not_cancelable', async () => {
    const id = await createJob(api, { class_id: 1 });
    expect((await run(['jobs', 'cancel', id])).code).toBe(0);
    const again = await run(['jobs', 'cancel', id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('(not_cancelable, HTTP 409)');
  });

  it('jobs get prints the generation as JSON', async () => {
    const id = await createJob(api, { class_id: 5, seed: 42 });
    const result = await run(['jobs', 'get', id]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      id,
      object: 'generation',
      params: { seed: 42, class_ids: [5] },
    });
  });
});
