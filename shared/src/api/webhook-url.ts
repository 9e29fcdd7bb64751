// Webhook URL policy. It has its own error code (invalid_webhook_url), so it runs after the schema: https only,
// no credentials, and no private, loopback or link-local hosts, so the Worker cannot be used to probe internal networks.
import { ApiError, ErrorCode as Codes } from '../errors.ts';

function isPrivateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host.endsWith('.local') ||
    host.endsWith('.internal')
  ) {
    return true;
  }
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    // RFC 1918 private, loopback, link-local, "this network", CGNAT (RFC 6598), multicast and reserved.
    return (
      a === 10 ||
      a === 127 ||
      a === 0 ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127) ||
      a >= 224
    );
  }
  if (host.includes(':')) {
    // IPv6 loopback, unspecified, unique-local fc00::/7, link-local fe80::/10, IPv4-mapped.
    return (
      host === '::1' ||
      host === '::' ||
      /^f[cd][0-9a-f]{0,2}:/.test(host) ||
      /^fe[89ab][0-9a-f]?:/.test(host) ||
      host.startsWith('::ffff:')
    );
  }
  return false;
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Enforces the webhook URL policy: https, no credentials, no private, loopback or link-local hosts
 * (the Worker must not be usable to probe internal networks). `allowInsecureLoopback` admits
 * http://127.0.0.1 and http://localhost, for local development and tests only.
 * Throws ApiError invalid_webhook_url with field `webhook.url`.
 */
export function checkWebhookUrl(url: string, opts: { allowInsecureLoopback?: boolean } = {}): URL {
  const fail = (detail: string): never => {
    throw new ApiError(Codes.invalid_webhook_url, detail, { field: 'webhook.url' });
  };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail(`'webhook.url' must be an absolute URL, got ${JSON.stringify(url.slice(0, 100))}`);
  }
  const loopback = isLoopbackHost(parsed.hostname);
  if (
    opts.allowInsecureLoopback &&
    loopback &&
    (parsed.protocol === 'http:' || parsed.protocol === 'https:')
  ) {
    return parsed;
  }
  if (parsed.protocol !== 'https:')
    fail(`'webhook.url' must use https, got ${parsed.protocol.replace(':', '')}`);
  if (parsed.username || parsed.password) fail("'webhook.url' must not contain credentials");
  if (isPrivateHost(parsed.hostname))
    fail(`'webhook.url' must not point at a private or loopback host, got ${parsed.hostname}`);
  return parsed;
}
