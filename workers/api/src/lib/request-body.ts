// Reading request bodies: JSON with a precise invalid_json problem (where parsing failed), and a check
// of the declared media type so a wrong Content-Type is a 415, not a confusing parse error.
import { ApiError, ErrorCode } from '@gigatok/shared';

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
  const text = await request.text();
  if (text.trim() === '') {
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
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError(
      ErrorCode.invalid_json,
      `the request body is not valid JSON: ${(error as Error).message}`,
    );
  }
}
