// Request body size limits: Content-Length is checked before reading, chunked bodies are counted while
// read (hono's bodyLimit), and either way the answer is a 413 problem naming the limit.
import { ApiError, type ErrorCode } from '@gigatok/shared';
import { bodyLimit } from 'hono/body-limit';

/** JSON bodies that carry no image (generation requests, inline tokens): 64 KiB is ample. Routes that
 * take a base64 image (tokenize, variations, embeddings) use LIMITS.maxJsonBodyBytes. */
export const JSON_BODY_LIMIT = 64 * 1024;

export function limitBody(maxSize: number, code: ErrorCode = 'payload_too_large', what = 'the request body') {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(code, `${what} must be at most ${maxSize} bytes`, { limit: maxSize });
    },
  });
}
