// The `gigatok` CLI as a user runs it: `node bin/gigatok.mjs ...` in a child process against the fake
// API, writing real files into a temporary folder; exit codes, stdout and stderr checked. Each run
// costs about a second of CPU (tsx compiles on start), so the option matrix lives in cli-main.test.ts.

import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeTokens, encodeTokens, tokenRows } from '@gigatok/shared';
import { encodePng, pngSize } from '@gigatok/shared/testing/png';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ADMIN_TOKEN, API_KEY, FakeApi, type FakeApiOptions, MODEL } from './fake-api.ts';

const BIN = fileURLToPath(new URL('../bin/gigatok.mjs', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;
let image: string;
const servers: FakeApi[] = [];

/** A fresh fake API per test (tests run concurrently) and a runner of the CLI pointed at it. */
async function setup(options: FakeApiOptions = {}) {
  const api = await FakeApi.start({ pollsToFinish: 2, ...options });
  servers.push(api);
  /** Runs the CLI asynchronously: the fake API lives in this process and must keep serving. */
  const gigatok = (args: string[], env: Record<string, string | undefined> = {}): Promise<Run> =>
    new Promise((resolve) => {
      const merged = { PATH: process.env.PATH, GIGATOK_API_URL: api.url, GIGATOK_API_KEY: API_KEY, ...env };
      execFile(
        process.execPath,
        [BIN, ...args],
        {
          cwd: dir,
          env: Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)),
          // A CLI run starts node + tsx; on a loaded machine that alone has taken over 25 s.
          timeout: 90_000,
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  return { api, gigatok };
}

const sentBody = (api: FakeApi, path: string) =>
  JSON.parse(new TextDecoder().decode(api.requests.find((r) => r.path === path)!.body));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gigatok-cli-'));
  image = join(dir, 'cat.png');
  await writeFile(
    image,
    encodePng(
      8,
      8,
      Uint8Array.from({ length: 192 }, (_, i) => (i * 5) & 0xff),
    ),
  );
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

describe.concurrent('gigatok tokenize / detokenize', () => {
  it('tokenize --out writes a GTOK file whose tokens match the API and prints the id', async ({ expect }) => {
    const { api, gigatok } = await setup();
    const run = await gigatok(['tokenize', image, '--out', 'cat.gtok']);
    expect(run.code).toBe(0);
    const [id, model, shape] = run.stdout.trim().split(' ');
    expect(id).toMatch(/^tok_[a-z2-7]{32}$/);
    expect([model, shape]).toEqual([MODEL.id, '1x32']);
    const set = decodeTokens(new Uint8Array(await readFile(join(dir, 'cat.gtok'))));
    expect(tokenRows(set.tokens, set.tokensPerImage)).toEqual(api.tokens.get(id!));
    expect(run.stderr).toContain('wrote cat.gtok');
  });

  it('detokenize turns a .gtok file into the PNG the API rendered', async ({ expect }) => {
    const { api, gigatok } = await setup();
    const row = Array.from({ length: 32 }, (_, i) => (i * 37) % 1024);
    await writeFile(
      join(dir, 'row.gtok'),
      encodeTokens({ model: MODEL.id, codebookSize: 1024, tokensPerImage: 32, tokens: [row] }),
    );
    const run = await gigatok(['detokenize', 'row.gtok', '--out', 'out/row.png']);
    expect(run.code).toBe(0);
    const imageId = run.stdout.trim();
    expect(imageId).toMatch(/^img_[a-z2-7]{32}$/);
    const png = new Uint8Array(await readFile(join(dir, 'out/row.png')));
    expect(pngSize(png)).toEqual({ width: 32, height: 32 });
    expect(png).toEqual(api.images.get(imageId));
    expect(sentBody(api, '/v1/detokenize')).toEqual({ tokens: row, model: MODEL.id, format: 'png' });
  });

  it('detokenize prints the problem detail and field and exits 1 when the API rejects the tokens', async ({
    expect,
  }) => {
    const { gigatok } = await setup();
    await writeFile(join(dir, 'short.json'), JSON.stringify({ tokens: [[1, 2, 3]] }));
    const run = await gigatok(['detokenize', 'short.json', '--out', 'never.png']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("'tokens' must hold 32 tokens (invalid_tokens, HTTP 400)");
    expect(run.stderr).toContain('field: tokens');
    expect(existsSync(join(dir, 'never.png'))).toBe(false);
  });
});

describe.concurrent('gigatok generate', () => {
  it('follows the job to success on stderr and downloads every image', async ({ expect }) => {
    const { api, gigatok } = await setup();
    const run = await gigatok([
      'generate',
      '--class',
      '7',
      '--count',
      '2',
      '--seed',
      '1',
      '--out',
      'gen',
      '--poll-ms',
      '20',
    ]);
    expect(run.code).toBe(0);
    for (const status of ['queued', 'running', 'succeeded'])
      expect(run.stderr).toMatch(new RegExp(`\\] job_\\w+ ${status}`));
    expect(run.stderr).toMatch(/\[\s+\d+\.\ds\]/); // elapsed time on each transition
    expect(run.stderr).not.toContain('\r'); // no spinner when stderr is not a terminal
    const files = (await readdir(join(dir, 'gen'))).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^job_[a-z2-7]{32}-0\.png$/);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^0 class=7 tok_\w+ img_\w+ gen\/job_\w+-0\.png$/);
    const imageId = lines[1]!.split(' ')[3]!;
    expect(new Uint8Array(await readFile(join(dir, 'gen', files[1]!)))).toEqual(api.images.get(imageId));
    expect(sentBody(api, '/v1/generations')).toEqual({ class_id: 7, count: 2, seed: 1 });
  });

  it('cancels the job on Ctrl-C (SIGINT) and exits 130', async ({ expect }) => {
    const { api } = await setup({ pollsToFinish: 1_000_000 });
    const child = spawn(process.execPath, [BIN, 'generate', '--class', '3', '--poll-ms', '20'], {
      cwd: dir,
      env: { PATH: process.env.PATH, GIGATOK_API_URL: api.url, GIGATOK_API_KEY: API_KEY },
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/ running\n/.test(stderr)) resolve();
      });
    });
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain('interrupted');
    const [entry] = api.jobs.values();
    expect(entry!.job.status).toBe('canceled');
  });

  it('rejects a malformed flag with exit 2 before calling the API', async ({ expect }) => {
    // The full matrix of flag errors runs in-process (cli-main.test.ts); this checks the exit code for real.
    const { api, gigatok } = await setup();
    const run = await gigatok(['generate', '--class', '1', '--count', '17']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('\'--count\' must be an integer in [1, 16], got "17"');
    expect(run.stderr).toContain('Usage: gigatok generate');
    expect(api.requests).toHaveLength(0);
  });
});

describe.concurrent('gigatok jobs', () => {
  /** Three queued jobs, created straight through HTTP; returns their ids, oldest first. */
  async function seedJobs(api: FakeApi): Promise<string[]> {
    const ids = [];
    for (const cls of [1, 2, 3]) {
      const res = await fetch(`${api.url}/v1/generations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ class_id: cls, seed: 100 + cls }),
      });
      ids.push(((await res.json()) as { id: string }).id);
    }
    return ids;
  }

  it('jobs lists one page as a table, newest first, with the cursor of the next page', async ({ expect }) => {
    const { api, gigatok } = await setup();
    const ids = await seedJobs(api);
    const page = await gigatok(['jobs', '--limit', '2']);
    expect(page.code).toBe(0);
    const rows = page.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^ID\s+STATUS\s+CREATED\s+IMAGES\s+CLASSES\s+SEED$/);
    expect(rows.slice(1).map((r) => r.split(/\s+/)[0])).toEqual([ids[2], ids[1]]);
    expect(rows[1]).toMatch(/\squeued\s.*\s1\s+3\s+103$/);
    expect(page.stderr).toMatch(/more: gigatok jobs --cursor \S+/);
  });

  it('jobs cancel cancels a queued job', async ({ expect }) => {
    const { api, gigatok } = await setup();
    const [id] = await seedJobs(api);
    const canceled = await gigatok(['jobs', 'cancel', id!]);
    expect([canceled.code, canceled.stdout]).toEqual([0, `${id} canceled\n`]);
    expect(api.jobs.get(id!)!.job.status).toBe('canceled');
  });
});

describe.concurrent('gigatok webhooks', () => {
  it('webhooks deliveries prints each delivery and its attempts, filtered', async ({ expect }) => {
    const { api, gigatok } = await setup();
    const [failed, ok] = api.seedDeliveries(2);
    const run = await gigatok(['webhooks', 'deliveries', '--status', 'failed']);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      new RegExp(`^${failed!.id}\\s+failed\\s+generation\\.started\\s+${failed!.job_id}\\s`),
    );
    expect(lines[1]).toMatch(/^\s+\S+\s+queue\s+TypeError: fetch failed\s+12 ms$/);
    expect(run.stdout).not.toContain(ok!.id);
    expect(api.requests.at(-1)!.query.get('status')).toBe('failed');
  });

  it('webhooks redeliver sends one again and exits 0 on a 2xx; a bad --event is a usage error', async ({
    expect,
  }) => {
    const { api, gigatok } = await setup();
    const [delivery] = api.seedDeliveries(1);
    const run = await gigatok(['webhooks', 'redeliver', delivery!.id]);
    expect([run.code, run.stdout]).toEqual([0, `${delivery!.id} HTTP 204 (succeeded)\n`]);
    expect(api.deliveries[0]!.attempts.at(-1)!.manual).toBe(true);
    const bad = await gigatok(['webhooks', 'deliveries', '--event', 'generation.exploded']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("'--event' must be one of generation.started");
  });

  it('webhooks rotate-secret prints the new secret alone on stdout', async ({ expect }) => {
    const { api, gigatok } = await setup();
    const run = await gigatok(['webhooks', 'rotate-secret']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${api.webhookSecret}\n`);
    expect(run.stderr).toMatch(/previous secret also signs deliveries until \d{4}-/);
  });
});

describe.concurrent('gigatok keys', () => {
  it('keys create mints a key with the admin token and prints only the secret on stdout', async ({
    expect,
  }) => {
    const { api, gigatok } = await setup();
    const run = await gigatok(['keys', 'create', '--tenant', 'acme'], { GIGATOK_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^gtk_live_[a-z2-7]{32}\n$/);
    expect(api.keys.at(-1)).toEqual({ tenant: 'acme', key: run.stdout.trim() });
    expect(run.stderr).toMatch(/created key_\w+ for tenant ten_\w+/);
  });
});
