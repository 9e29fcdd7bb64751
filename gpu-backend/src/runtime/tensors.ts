// Tensors as the backend passes them around: plain typed arrays in host memory with their dims (what
// onnxruntime-node takes and returns; it has no IO binding), and typed reads of a graph's outputs.

export type HostTensor =
  | { type: 'float32'; data: Float32Array; dims: readonly number[] }
  | { type: 'int64'; data: BigInt64Array; dims: readonly number[] };

export type Feeds = Record<string, HostTensor>;
export type Outputs = Record<string, HostTensor>;

/** A graph run that failed, or a graph used wrongly (missing inputs, disposed, bad output type). */
export class GraphRunError extends Error {
  override readonly name = 'GraphRunError';
  constructor(
    message: string,
    readonly graph: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function float32(data: Float32Array, dims: readonly number[]): HostTensor {
  return { type: 'float32', data, dims };
}

export function int64(data: BigInt64Array, dims: readonly number[]): HostTensor {
  return { type: 'int64', data, dims };
}

/** Reads an output, checking its element type, so callers get a typed array of the right kind. */
export function outputFloat32(
  outputs: Outputs,
  name: string,
  graph: string,
): { data: Float32Array; dims: readonly number[] } {
  const t = outputs[name];
  if (t === undefined) throw new GraphRunError(`graph ${graph} has no output '${name}'`, graph);
  if (t.type !== 'float32')
    throw new GraphRunError(`graph ${graph}: output '${name}' is ${t.type}, expected float32`, graph);
  return t;
}

export function outputInt64(
  outputs: Outputs,
  name: string,
  graph: string,
): { data: BigInt64Array; dims: readonly number[] } {
  const t = outputs[name];
  if (t === undefined) throw new GraphRunError(`graph ${graph} has no output '${name}'`, graph);
  if (t.type !== 'int64')
    throw new GraphRunError(`graph ${graph}: output '${name}' is ${t.type}, expected int64`, graph);
  return t;
}
