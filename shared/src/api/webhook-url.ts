// Webhook URL policy. It has its own error code (invalid_webhook_url), so it runs after the schema: https only,
// no credentials, no single-label or internal names, and no address outside the public unicast internet
// (IANA special-purpose registries, RFC 6890), so the Worker cannot be used to probe internal networks.
import { ApiError, ErrorCode as Codes } from '../errors.ts';

/** Name suffixes that only resolve inside a site: RFC 6761 localhost, RFC 6762 .local, RFC 8375 home.arpa. */
const INTERNAL_SUFFIXES = ['localhost', 'local', 'internal', 'home.arpa', 'localdomain', 'lan', 'intranet'];

/**
 * IPv4 ranges that are not public unicast (IANA IPv4 Special-Purpose Address Registry, RFC 6890), as
 * [first octets..., prefix length]. The WHATWG URL parser has already turned decimal, hex and octal
 * forms (https://2130706433/, https://0x7f.1/, https://0177.0.0.1/) into dotted quads.
 */
const IPV4_BLOCKED: readonly (readonly [number, number, number, number, number])[] = [
  [0, 0, 0, 0, 8], // "this network"
  [10, 0, 0, 0, 8], // RFC 1918 private
  [100, 64, 0, 0, 10], // RFC 6598 shared address space (CGNAT)
  [127, 0, 0, 0, 8], // loopback
  [169, 254, 0, 0, 16], // link-local (cloud metadata endpoints live here)
  [172, 16, 0, 0, 12], // RFC 1918 private
  [192, 0, 0, 0, 24], // IETF protocol assignments (RFC 6890)
  [192, 0, 2, 0, 24], // TEST-NET-1 (RFC 5737)
  [192, 88, 99, 0, 24], // 6to4 relay anycast (RFC 7526)
  [192, 168, 0, 0, 16], // RFC 1918 private
  [198, 18, 0, 0, 15], // benchmarking (RFC 2544)
  [198, 51, 100, 0, 24], // TEST-NET-2
  [203, 0, 113, 0, 24], // TEST-NET-3
  [224, 0, 0, 0, 4], // multicast
  [240, 0, 0, 0, 4], // reserved, and 255.255.255.255 broadcast
];

/**
 * IPv6 ranges that are not public unicast or that embed an IPv4 address the check above could not see
 * (IANA IPv6 Special-Purpose Address Registry), as [first 16-bit groups..., prefix length].
 */
const IPV6_BLOCKED: readonly (readonly number[])[] = [
  [0, 0, 0, 0, 0, 0, 96], // ::/96: unspecified, loopback ::1, IPv4-compatible (deprecated, RFC 4291)
  [0, 0, 0, 0, 0, 0xffff, 96], // ::ffff:0:0/96 IPv4-mapped
  [0, 0, 0, 0, 0xffff, 0, 96], // ::ffff:0:0:0/96 IPv4-translated (RFC 2765)
  [0x64, 0xff9b, 0, 0, 0, 0, 96], // 64:ff9b::/96 NAT64 well-known prefix (RFC 6052)
  [0x64, 0xff9b, 1, 48], // 64:ff9b:1::/48 local-use NAT64 (RFC 8215)
  [0x100, 0, 0, 0, 64], // 100::/64 discard-only (RFC 6666)
  [0x2001, 0, 32], // 2001::/32 Teredo (tunnels to an IPv4 address)
  [0x2001, 0xdb8, 32], // 2001:db8::/32 documentation (RFC 3849)
  [0x2002, 16], // 2002::/16 6to4 (embeds an IPv4 address, RFC 3056)
  [0x3fff, 20], // 3fff::/20 documentation (RFC 9637)
  [0xfc00, 7], // fc00::/7 unique local (RFC 4193)
  [0xfe80, 10], // fe80::/10 link-local
  [0xfec0, 10], // fec0::/10 site-local (deprecated, RFC 3879)
  [0xff00, 8], // ff00::/8 multicast
];

function parseIpv4(host: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? octets : null;
}

/** The eight 16-bit groups of an IPv6 literal (with or without `::`, with or without a dotted IPv4 tail). */
function parseIpv6(host: string): number[] | null {
  let text = host;
  const dotted = /:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(text);
  if (dotted) {
    // A dotted IPv4 tail (::ffff:127.0.0.1) is the last two groups written in decimal.
    const v4 = parseIpv4(dotted[1]!);
    if (!v4) return null;
    const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
    text = `${text.slice(0, dotted.index + 1)}${hex(v4[0]!, v4[1]!)}:${hex(v4[2]!, v4[3]!)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const explicit = head.length + rest.length;
  if (halves.length === 1 ? explicit !== 8 : explicit > 7) return null;
  const zeros = new Array<string>(8 - explicit).fill('0');
  const all = [...head, ...(halves.length === 2 ? zeros : []), ...rest];
  const values = all.map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? Number.parseInt(g, 16) : Number.NaN));
  if (values.some(Number.isNaN)) return null;
  return values;
}

/** Whether `address` (octets or 16-bit groups) starts with `prefix` ([...leading units, bits]). */
function inRange(address: readonly number[], prefix: readonly number[], unitBits: number): boolean {
  const bits = prefix[prefix.length - 1]!;
  for (let i = 0; i * unitBits < bits; i++) {
    const take = Math.min(unitBits, bits - i * unitBits);
    const mask = ((1 << take) - 1) << (unitBits - take);
    if (((address[i] ?? 0) & mask) !== ((prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

/** Why `hostname` must not receive webhooks, or null when it may. */
function refusedHost(hostname: string): string | null {
  const host = hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  const v4 = parseIpv4(host);
  if (v4) {
    return IPV4_BLOCKED.some((range) => inRange(v4, range, 8))
      ? 'a private, loopback, link-local, shared, reserved, documentation or multicast IPv4 address'
      : null;
  }
  if (host.includes(':')) {
    const v6 = parseIpv6(host);
    if (!v6) return 'an IPv6 address this check cannot read';
    return IPV6_BLOCKED.some((range) => inRange(v6, range, 16))
      ? 'a loopback, private, link-local, site-local, multicast, documentation or IPv4-embedding IPv6 address'
      : null;
  }
  if (!host.includes('.')) return 'a single-label host name (it resolves only inside a network)';
  if (INTERNAL_SUFFIXES.some((suffix) => host === suffix || host.endsWith(`.${suffix}`))) {
    return 'an internal host name';
  }
  return null;
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Enforces the webhook URL policy: https, no credentials, no single-label or internal names, and no
 * address outside the public unicast internet (the Worker must not be usable to probe internal
 * networks). `allowInsecureLoopback` admits http://127.0.0.1 and http://localhost, for local
 * development and tests only. Names that resolve to private addresses (DNS rebinding) cannot be seen
 * here: on Cloudflare, Worker subrequests cannot reach private networks anyway.
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
  const refused = refusedHost(parsed.hostname);
  if (refused) fail(`'webhook.url' must point at a public host, got ${parsed.hostname} (${refused})`);
  return parsed;
}
