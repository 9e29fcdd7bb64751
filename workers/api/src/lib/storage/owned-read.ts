// Reading an artifact on behalf of its owner: the ownership check (timed as `own`) and the blob read
// (timed as `blob`), with the 404 that unknown, malformed and other tenants' ids all share.
import { ApiError, ErrorCode } from '@gigatok/shared';
import type { Context } from 'hono';
import type { AppEnv } from '../../env.ts';
import { type Blob, readBlob } from './edge-cache.ts';
import { bySource, owns } from './ownership.ts';

/** Throws a 404 with `detail` unless `id` has the shape `pattern` and the caller owns it. */
export async function requireOwned(
  c: Context<AppEnv>,
  id: string,
  pattern: RegExp,
  detail: string,
  field?: string,
): Promise<void> {
  const owned =
    pattern.test(id) &&
    (
      await c
        .get('timing')
        .measure('own', owns(c.env, c.get('caller').tenantId, id, c.executionCtx), bySource)
    ).owned;
  if (!owned) throw new ApiError(ErrorCode.not_found, detail, field ? { field } : {});
}

/** The blob under `key` (colo cache, else R2); a 404 with `detail` when it is gone. */
export async function readArtifact(
  c: Context<AppEnv>,
  key: string,
  detail: string,
  field?: string,
): Promise<Blob> {
  const blob = await c.get('timing').measure('blob', readBlob(c.env.ARTIFACTS, key, c.executionCtx));
  if (!blob) throw new ApiError(ErrorCode.not_found, detail, field ? { field } : {});
  return blob;
}
