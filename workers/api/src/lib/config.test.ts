// The Worker's vars as checked config: the optional webhook retry schedule (WEBHOOK_RETRY_DELAYS).
import { describe, expect, it } from 'vitest';
import { config } from './config.ts';

const base = {
  BACKEND_URL: 'http://127.0.0.1:8790',
  BACKEND_TIMEOUT_MS: '30000',
  GENERATE_TIMEOUT_MS: '120000',
  MAX_QUEUED_JOBS_PER_TENANT: '100',
  ALLOW_INSECURE_WEBHOOKS: '0',
  DEFAULT_MODEL: 'gigatok-nano',
} as unknown as Env;

describe('config', () => {
  it('keeps the built-in webhook schedule when WEBHOOK_RETRY_DELAYS is absent or empty', () => {
    expect(config({ ...base }).webhookRetryDelays).toBeUndefined();
    expect(config({ ...base, WEBHOOK_RETRY_DELAYS: '' }).webhookRetryDelays).toBeUndefined();
  });

  it('reads WEBHOOK_RETRY_DELAYS as seconds between attempts', () => {
    expect(config({ ...base, WEBHOOK_RETRY_DELAYS: '1, 2,4' }).webhookRetryDelays).toEqual([1, 2, 4]);
  });

  it('refuses a WEBHOOK_RETRY_DELAYS that queues cannot honour, naming the var', () => {
    for (const bad of ['0', '1,x', '1.5', '-1', '43201', '1,1,1,1,1,1,1,1,1']) {
      expect(() => config({ ...base, WEBHOOK_RETRY_DELAYS: bad }), bad).toThrow(/var WEBHOOK_RETRY_DELAYS/);
    }
  });

  it('trusts a checked API key for AUTH_CACHE_TTL_SECONDS (default 30 s, 0 to 60)', () => {
    expect(config({ ...base }).authCacheTtlMs).toBe(30_000);
    expect(config({ ...base, AUTH_CACHE_TTL_SECONDS: '0' }).authCacheTtlMs).toBe(0);
    expect(config({ ...base, AUTH_CACHE_TTL_SECONDS: '0.5' }).authCacheTtlMs).toBe(500);
    for (const bad of ['61', '-1', 'x']) {
      expect(() => config({ ...base, AUTH_CACHE_TTL_SECONDS: bad }), bad).toThrow(
        /var AUTH_CACHE_TTL_SECONDS must be a number of seconds in \[0, 60\]/,
      );
    }
  });

  it('keeps a rotated-out webhook secret for WEBHOOK_SECRET_OVERLAP_SECONDS (default 86400, 0 to 604800)', () => {
    expect(config({ ...base }).webhookSecretOverlapMs).toBe(86_400_000);
    expect(config({ ...base, WEBHOOK_SECRET_OVERLAP_SECONDS: '0' }).webhookSecretOverlapMs).toBe(0);
    expect(config({ ...base, WEBHOOK_SECRET_OVERLAP_SECONDS: '604800' }).webhookSecretOverlapMs).toBe(
      604_800_000,
    );
    for (const bad of ['-1', '604801', '1.5', 'x', ' 60', '1e3']) {
      expect(() => config({ ...base, WEBHOOK_SECRET_OVERLAP_SECONDS: bad }), bad).toThrow(
        /var WEBHOOK_SECRET_OVERLAP_SECONDS must be an integer of seconds in \[0, 604800\]/,
      );
    }
  });

  it('reads the chunk sizes of generation jobs (defaults 4 and 16), each an integer in [1, 16]', () => {
    expect(config({ ...base })).toMatchObject({ generationChunkImages: 4, generationMaxChunkImages: 16 });
    expect(config({ ...base, GENERATION_CHUNK_IMAGES: '1', GENERATION_MAX_CHUNK_IMAGES: '2' })).toMatchObject(
      { generationChunkImages: 1, generationMaxChunkImages: 2 },
    );
    for (const bad of ['0', '17', '2.5', 'x']) {
      expect(() => config({ ...base, GENERATION_CHUNK_IMAGES: bad }), bad).toThrow(
        /var GENERATION_CHUNK_IMAGES must be an integer in \[1, 16\]/,
      );
      expect(() => config({ ...base, GENERATION_MAX_CHUNK_IMAGES: bad }), bad).toThrow(
        /var GENERATION_MAX_CHUNK_IMAGES must be an integer in \[1, 16\]/,
      );
    }
  });

  it('serves every model from BACKEND_URL when BACKEND_POOLS is absent or empty', () => {
    expect(config({ ...base }).backendPools).toEqual([{ urls: ['http://127.0.0.1:8790'] }]);
    expect(config({ ...base, BACKEND_POOLS: ' ' }).backendPools).toEqual([
      { urls: ['http://127.0.0.1:8790'] },
    ]);
    expect(() => config({ ...base, BACKEND_URL: 'gpu-host' })).toThrow(
      /var BACKEND_URL must be an absolute URL/,
    );
  });

  it('reads BACKEND_POOLS in place of BACKEND_URL, URLs without a trailing slash', () => {
    const pools = {
      pools: [
        { urls: ['https://gpu-1.example/', 'https://gpu-2.example/prefix/'] },
        { urls: ['http://10.0.0.9:8790'], models: ['gigatok-b'] },
      ],
    };
    expect(config({ ...base, BACKEND_POOLS: JSON.stringify(pools) }).backendPools).toEqual([
      { urls: ['https://gpu-1.example', 'https://gpu-2.example/prefix'] },
      { urls: ['http://10.0.0.9:8790'], models: ['gigatok-b'] },
    ]);
  });

  it('refuses a BACKEND_POOLS that is not JSON or breaks the schema, naming the var and the path', () => {
    const bad: [string, RegExp][] = [
      ['{pools:', /var BACKEND_POOLS must be JSON/],
      ['{"pools":[]}', /var BACKEND_POOLS is invalid: pools: /],
      ['{"pools":[{"urls":[]}]}', /pools\.0\.urls: /],
      ['{"pools":[{"urls":["gpu-1:8790"]}]}', /pools\.0\.urls\.0: must be an absolute http\(s\) URL/],
      ['{"pools":[{"urls":["ftp://gpu-1"]}]}', /pools\.0\.urls\.0: must be an absolute http\(s\) URL/],
      ['{"pools":[{"urls":["http://a"],"models":["Bad Id"]}]}', /pools\.0\.models\.0: /],
      ['{"pools":[{"urls":["http://a"]}],"extra":1}', /var BACKEND_POOLS is invalid/],
      [
        '{"pools":[{"urls":["http://a/"]},{"urls":["http://a"]}]}',
        /pools\.1\.urls\.0: lists http:\/\/a a second time/,
      ],
    ];
    for (const [raw, message] of bad) {
      expect(() => config({ ...base, BACKEND_POOLS: raw }), raw).toThrow(message);
    }
  });
});
