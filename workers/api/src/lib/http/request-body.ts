// Reading request bodies: JSON with a precise invalid_json problem (where parsing failed), and a check
// of the declared media type so a wrong Content-Type is a 415, not a confusing parse error.
import { ApiError, ErrorCode } from '@gigatok/shared';

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** The media type of a Content-Type header, lower case, without parameters. */
export function mediaType(contentType: string | null | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function isJsonType(type: string): boolean {
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

/**
 * Parses a JSON body. `allowEmpty`: an absent body reads as `{}` (routes whose fields are all
 * optional). The media type must be JSON when a body is present.
 */
export async function readJson(request: Request, options: { allowEmpty?: boolean } = {}): Promise<unknown> {
  const bytes = await request.arrayBuffer();
  // Fatal decoding: JSON text is UTF-8 (RFC 8259 section 8.1); replacing bad bytes with U+FFFD would
  // turn a malformed body into a different, valid one.
  let text: string | null = null;
  try {
    text = utf8Strict.decode(bytes);
  } catch {
    // reported below, after the media type
  }
  if (text !== null && text.trim() === '') {
    if (options.allowEmpty) return {};
    throw new ApiError(ErrorCode.invalid_json, 'the request body is empty; a JSON object is required');
  }
  const type = mediaType(request.headers.get('content-type'));
  if (!isJsonType(type)) {
    throw new ApiError(
      ErrorCode.unsupported_media_type,
      `the request body must be application/json, got ${type === '' ? 'no Content-Type' : `'${type}'`}`,
    );
  }
  if (text === null) throw new ApiError(ErrorCode.invalid_json, 'the request body is not valid UTF-8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError(
      ErrorCode.invalid_json,
      `the request body is not valid JSON: ${(error as Error).message}`,
    );
  }
}
