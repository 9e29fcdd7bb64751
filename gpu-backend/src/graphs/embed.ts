// embed.onnx (docs/model-contract.md): token rows [B, T] int64 and class ids [B] -> the AR model's mean
// hidden state at layer `ar.embedding_layer`, [B, D] float32.
import type { Graph } from '../runtime/graph.ts';
import { int64, outputFloat32 } from '../runtime/tensors.ts';
import type { ModelShapes } from './shapes.ts';
import { splitRows, tokenRows } from './token-rows.ts';

export class EmbedGraph {
  constructor(
    readonly graph: Graph,
    readonly shapes: ModelShapes,
  ) {}

  /**
   * One vector per token row, with the null class in front: the representation of the image alone
   * (what GigaTok's linear probe reads). A row's vector does not depend on its batch.
   */
  async run(rows: readonly Int32Array[]): Promise<Float32Array[]> {
    const n = rows.length;
    const classes = new BigInt64Array(n).fill(BigInt(this.shapes.nullClass));
    const out = await this.graph.run({
      token_ids: tokenRows(rows, this.shapes.tokens),
      class_ids: int64(classes, [n]),
    });
    return splitRows(outputFloat32(out, 'embedding', this.graph.label).data, n, this.graph.label);
  }

  async warmUp(): Promise<void> {
    await this.run([new Int32Array(this.shapes.tokens)]);
  }
}
