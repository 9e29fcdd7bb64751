// Opaque cursors of the newest-first lists (generations, webhook deliveries): keyset pagination on
// (created_at, id), written as base64url of "<created_at>.<id>" so clients treat them as tokens.
import { ApiError, ErrorCode } from '@gigatok/shared';

export interface ListCursor {
  /** Unix milliseconds of the last item of the page. */
  createdAt: number;
  id: string;
}

export function encodeCursor(cursor: ListCursor): string {
  return btoa(`${cursor.createdAt}.${cursor.id}`).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Reads a cursor whose id must match `idPattern` (the list's own id kind); anything else is a 400. */
export function decodeCursor(text: string, idPattern: RegExp): ListCursor {
  let decoded = '';
  try {
    decoded = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    // falls through to the shape check
  }
  const match = /^(\d{1,15})\.(.+)$/.exec(decoded);
  if (!match || !idPattern.test(match[2]!))
    throw new ApiError(ErrorCode.invalid_parameter, "'cursor' is not a cursor this API returned", {
      field: 'cursor',
    });
  return { createdAt: Number(match[1]), id: match[2]! };
}
