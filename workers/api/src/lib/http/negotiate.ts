// Proactive content negotiation on Accept (RFC 9110 section 12.5.1): picks the offered media type with
// the highest quality, the most specific matching range deciding each type's quality.
import { ApiError, ErrorCode } from '@gigatok/shared';

export const JSON_TYPE = 'application/json';

interface MediaRange {
  type: string;
  subtype: string;
  q: number;
}

function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const item of header.split(',')) {
    const [mediaRange, ...params] = item.trim().split(';');
    const [type, subtype] = (mediaRange ?? '').trim().toLowerCase().split('/');
    if (!type || !subtype) continue;
    let q = 1;
    for (const param of params) {
      const [name, value] = param.trim().split('=');
      if (name?.trim().toLowerCase() === 'q') {
        const parsed = Number(value);
        q = Number.isFinite(parsed) ? Math.min(Math.max(parsed, 0), 1) : 0;
      }
    }
    ranges.push({ type, subtype, q });
  }
  return ranges;
}

function quality(ranges: MediaRange[], offered: string): number {
  const [type, subtype] = offered.toLowerCase().split('/');
  let best = -1;
  let q = 0;
  for (const range of ranges) {
    const specificity =
      range.type === type && range.subtype === subtype
        ? 2
        : range.type === type && range.subtype === '*'
          ? 1
          : range.type === '*' && range.subtype === '*'
            ? 0
            : -1;
    if (specificity > best) {
      best = specificity;
      q = range.q;
    }
  }
  return best < 0 ? 0 : q;
}

/**
 * The best of `offered` (in server preference order, first wins ties) for an Accept header, or null
 * when the client accepts none of them. No header, or an empty one, accepts anything.
 */
export function negotiate<T extends string>(
  accept: string | null | undefined,
  offered: readonly T[],
): T | null {
  if (!accept || accept.trim() === '') return offered[0] ?? null;
  const ranges = parseAccept(accept);
  if (ranges.length === 0) return offered[0] ?? null;
  let choice: T | null = null;
  let bestQ = 0;
  for (const type of offered) {
    const q = quality(ranges, type);
    if (q > bestQ) {
      bestQ = q;
      choice = type;
    }
  }
  return choice;
}

export function notAcceptable(offered: readonly string[]): ApiError {
  return new ApiError(ErrorCode.not_acceptable, `this resource is available as ${offered.join(' or ')}`);
}

/** The best of `offered` for the Accept header; 406 naming what is offered when none is acceptable. */
export function acceptable<T extends string>(accept: string | null | undefined, offered: readonly T[]): T {
  const choice = negotiate(accept, offered);
  if (!choice) throw notAcceptable(offered);
  return choice;
}
