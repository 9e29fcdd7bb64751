// decoder.onnx (docs/model-contract.md): tokens [B, T] int64 -> images [B, 3, S, S] float32 in [0, 1].
import type { Graph } from '../runtime/graph.ts';
import { outputFloat32 } from '../runtime/tensors.ts';
import type { ModelShapes } from './shapes.ts';
import { splitRows, tokenRows } from './token-rows.ts';

export class DecoderGraph {
  constructor(
    readonly graph: Graph,
    readonly shapes: ModelShapes,
  ) {}

  /** One image (3 x S x S, channel-major) per token row, in order. */
  async run(rows: readonly Int32Array[]): Promise<Float32Array[]> {
    const out = await this.graph.run({ tokens: tokenRows(rows, this.shapes.tokens) });
    const images = splitRows(
      outputFloat32(out, 'image', this.graph.label).data,
      rows.length,
      this.graph.label,
    );
    const plane = 3 * this.shapes.imageSize * this.shapes.imageSize;
    if (images[0]!.length !== plane) {
      throw new Error(
        `${this.graph.label} returned images of ${images[0]!.length} values, expected ${plane}`,
      );
    }
    return images;
  }

  async warmUp(): Promise<void> {
    await this.run([new Int32Array(this.shapes.tokens)]);
  }
}
