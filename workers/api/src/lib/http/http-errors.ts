// Response headers that belong with an error (Retry-After on 429/503, WWW-Authenticate on 401):
// attached to the shared ApiError instance so the single error boundary can send them.
import type { ApiError } from '@gigatok/shared';

const extra = new WeakMap<ApiError, Record<string, string>>();

export function withHeaders<E extends ApiError>(error: E, headers: Record<string, string>): E {
  extra.set(error, { ...extra.get(error), ...headers });
  return error;
}

export function headersOf(error: ApiError): Record<string, string> {
  return extra.get(error) ?? {};
}
