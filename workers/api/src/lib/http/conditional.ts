// Conditional requests (RFC 9110 section 13.1.2): If-None-Match with the weak comparison it calls for,
// and the headers every immutable, per-tenant artifact is served with.

/** True when `ifNoneMatch` (a header value) matches `etag`, i.e. the client's copy is current. */
export function matchesIfNoneMatch(ifNoneMatch: string | null | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  const wanted = opaque(etag);
  return ifNoneMatch.split(',').some((tag) => opaque(tag) === wanted);
}

/**
 * Artifacts are immutable (the id is the hash of the content) but need an API key, so browsers may
 * keep them forever while shared caches must not store them (RFC 9111 section 5.2.2.7, `private`).
 */
export const IMMUTABLE_PRIVATE = 'private, max-age=31536000, immutable';

export function notModified(headers: Record<string, string>): Response {
  return new Response(null, { status: 304, headers });
}
