// Reads a request body once, under a byte limit, without trusting Content-Length (a chunked or lying
// client is cut off at the limit): 413 `payload_too_large` before the whole body is buffered.
import { ApiError } from '@gigatok/shared';

export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) {
    throw new ApiError('payload_too_large', `the body is ${declared} bytes, the limit is ${limit}`, {
      limit,
    });
  }
  if (request.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new ApiError('payload_too_large', `the body exceeds the limit of ${limit} bytes`, { limit });
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
