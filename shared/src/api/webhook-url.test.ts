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

  // Every form an SSRF probe takes: WHATWG URL parsing first normalises decimal, hex and octal IPv4 and
  // IPv6 literals, and the ranges are then checked numerically.
  const REFUSED: [string, string][] = [
    ['decimal loopback', 'https://2130706433/'],
    ['hex loopback', 'https://0x7f000001/'],
    ['dotted hex loopback', 'https://0x7f.0.0.1/'],
    ['octal loopback', 'https://0177.0.0.1/'],
    ['short loopback', 'https://127.1/'],
    ['decimal metadata address', 'https://2852039166/'],
    ['this network', 'https://0.0.0.0/'],
    ['CGNAT', 'https://100.64.0.1/'],
    ['IETF protocol assignments', 'https://192.0.0.8/'],
    ['TEST-NET-1', 'https://192.0.2.1/'],
    ['TEST-NET-2', 'https://198.51.100.7/'],
    ['TEST-NET-3', 'https://203.0.113.9/'],
    ['benchmarking 198.18/15 low', 'https://198.18.0.1/'],
    ['benchmarking 198.18/15 high', 'https://198.19.255.254/'],
    ['6to4 relay anycast', 'https://192.88.99.1/'],
    ['IPv4 multicast', 'https://224.0.0.251/'],
    ['broadcast', 'https://255.255.255.255/'],
    ['reserved 240/4', 'https://240.0.0.1/'],
    ['IPv6 unspecified', 'https://[::]/'],
    ['IPv6 loopback, long form', 'https://[0:0:0:0:0:0:0:1]/'],
    ['IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/'],
    ['IPv4-mapped public address', 'https://[::ffff:8.8.8.8]/'],
    ['IPv4-mapped, hex groups', 'https://[::ffff:a9fe:a9fe]/'],
    ['IPv4-compatible (deprecated)', 'https://[::127.0.0.1]/'],
    ['IPv4-translated', 'https://[::ffff:0:10.0.0.1]/'],
    ['NAT64 well-known prefix', 'https://[64:ff9b::a9fe:a9fe]/'],
    ['NAT64 local-use prefix', 'https://[64:ff9b:1::10.0.0.1]/'],
    ['6to4', 'https://[2002:a9fe:a9fe::1]/'],
    ['Teredo', 'https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/'],
    ['IPv6 documentation', 'https://[2001:db8::1]/'],
    ['IPv6 documentation 3fff::/20', 'https://[3fff:fff::1]/'],
    ['discard-only', 'https://[100::1]/'],
    ['unique local fc00::/7', 'https://[fc12::1]/'],
    ['link-local', 'https://[fe80::1]/'],
    ['link-local upper end', 'https://[febf::1]/'],
    ['site-local fec0::/10', 'https://[fec0::1]/'],
    ['site-local upper end', 'https://[feff::1]/'],
    ['IPv6 multicast', 'https://[ff02::1]/'],
    ['single-label host', 'https://intranet/hook'],
    ['single-label with trailing dot', 'https://metadata./'],
    ['localhost with trailing dot', 'https://localhost./'],
    ['home.arpa', 'https://router.home.arpa/'],
    ['.internal', 'https://metadata.google.internal/'],
    ['.local', 'https://printer.local/'],
  ];

  it.each(REFUSED)('refuses %s (%s)', (_, url) => {
    const err = apiErrorOf(() => checkWebhookUrl(url));
    expect(err.code).toBe('invalid_webhook_url');
    expect(err.field).toBe('webhook.url');
    expect(err.message).toContain('must point at a public host');
  });

  it('accepts public IPv4 and IPv6 addresses next to the refused ranges', () => {
    for (const url of [
      'https://8.8.8.8/',
      'https://100.63.255.255/', // just below CGNAT
      'https://100.128.0.1/', // just above CGNAT
      'https://172.32.0.1/', // just above 172.16/12
      'https://192.0.3.1/', // just above TEST-NET-1
      'https://198.17.255.255/', // just below 198.18/15
      'https://198.20.0.1/', // just above 198.18/15
      'https://223.255.255.254/', // just below multicast
      'https://[2606:4700:4700::1111]/',
      'https://[2001:4860:4860::8888]/',
      'https://[64:ff9c::1]/', // next to NAT64
      'https://[2003::1]/', // next to 6to4
      'https://[fbff::1]/', // just below fc00::/7
      'https://hooks.example.com./', // a fully qualified name with its root dot
    ]) {
      expect(() => checkWebhookUrl(url), url).not.toThrow();
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
