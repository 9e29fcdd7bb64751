// encoder.onnx (docs/model-contract.md): preprocessed images [B, 3, S, S] float32 -> tokens [B, T] int64.
import type { Graph } from '../runtime/graph.ts';
import { float32, outputInt64 } from '../runtime/tensors.ts';
import type { ModelShapes } from './shapes.ts';

export class EncoderGraph {
  constructor(
    readonly graph: Graph,
    readonly shapes: ModelShapes,
  ) {}

  /** Values of one preprocessed image (3 x S x S, channel-major), the length `run` takes per image. */
  get imageValues(): number {
    return 3 * this.shapes.imageSize * this.shapes.imageSize;
  }

  /** One token row per image, in order. */
  async run(images: readonly Float32Array[]): Promise<Int32Array[]> {
    const n = images.length;
    const S = this.shapes.imageSize;
    const T = this.shapes.tokens;
    const plane = this.imageValues;
    const input = new Float32Array(n * plane);
    for (const [i, image] of images.entries()) input.set(image, i * plane);
    const out = await this.graph.run({ image: float32(input, [n, 3, S, S]) });
    const tokens = outputInt64(out, 'tokens', this.graph.label).data;
    if (tokens.length !== n * T) {
      throw new Error(`${this.graph.label} returned ${tokens.length} tokens, expected ${n} x ${T}`);
    }
    return images.map((_, i) => Int32Array.from(tokens.subarray(i * T, (i + 1) * T), Number));
  }

  /** One run at batch 1, so the first request does not pay for allocation and kernel choice. */
  async warmUp(): Promise<void> {
    await this.run([new Float32Array(this.imageValues)]);
  }
}
