// The public surface of @gigatok/shared: the contract the Worker, the GPU backend and clients agree on.
export * from './api/backend.ts';
export * from './api/public.ts';
export * from './backend-auth.ts';
export * from './base32.ts';
export * from './bytes.ts';
export * from './canonical-json.ts';
export * from './crc32c.ts';
export * from './errors.ts';
export * from './headers.ts';
export * from './ids.ts';
export * from './limits.ts';
export * from './model-manifest.ts';
export * from './random.ts';
export * from './schema-fields.ts';
export * from './token-format.ts';
export * from './webhooks.ts';
