import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.ts';
import { checkWebhookUrl } from './webhook-url.ts';

function apiErrorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

describe('checkWebhookUrl', () => {
  it('accepts public https URLs', () => {
    expect(checkWebhookUrl('https://hooks.example.com/gigatok?x=1').hostname).toBe('hooks.example.com');
  });

  it('rejects http, credentials and private, loopback or link-local hosts with invalid_webhook_url', () => {
    for (const url of [
      'http://hooks.example.com/',
      'https://user:pw@hooks.example.com/',
      'https://10.1.2.3/',
      'https://172.20.0.1/',
      'https://192.168.1.10/',
      'https://127.0.0.1/',
      'https://169.254.169.254/latest/meta-data',
      'https://localhost/',
      'https://[::1]/',
      'https://[fd00::1]/',
      'ftp://example.com/',
      'nonsense',
    ]) {
      const err = apiErrorOf(() => checkWebhookUrl(url));
      expect(err.code, url).toBe('invalid_webhook_url');
      expect(err.field).toBe('webhook.url');
    }
  });

  it('admits http loopback only when asked, for local tests', () => {
    expect(checkWebhookUrl('http://127.0.0.1:8788/hook', { allowInsecureLoopback: true }).port).toBe('8788');
    expect(checkWebhookUrl('http://localhost:9000/', { allowInsecureLoopback: true }).hostname).toBe(
      'localhost',
    );
    expect(() => checkWebhookUrl('http://10.0.0.1/', { allowInsecureLoopback: true })).toThrow(ApiError);
  });
});
