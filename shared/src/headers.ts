// Reading request headers from either a Fetch `Headers` object or a plain record (Node's IncomingHttpHeaders).

export type HeaderSource = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/** The value of header `name` (lowercase), case-insensitively; repeated headers are joined with ", ". */
export function getHeader(headers: HeaderSource, name: string): string | undefined {
  const wanted = name.toLowerCase();
  if (headers instanceof Headers) return headers.get(wanted) ?? undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    if (value === undefined) return undefined;
    return typeof value === 'string' ? value : value.join(', ');
  }
  return undefined;
}
