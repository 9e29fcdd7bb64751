// The public surface of @gigatok/shared: the contract the Worker, the GPU backend and clients agree on.
export * from './bytes.ts';
export * from './crc32c.ts';
export * from './errors.ts';
export * from './token-format.ts';
