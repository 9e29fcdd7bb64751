// The sizes every graph of a model is built for, read once from its manifest (docs/model-contract.md):
// each graph module takes its feeds' and outputs' shapes from here.
import type { ModelManifest } from '@gigatok/shared';

export interface ModelShapes {
  /** S: images are S x S, 3 channels. */
  imageSize: number;
  /** T: tokens per image. */
  tokens: number;
  /** V: codebook size. */
  vocab: number;
  numClasses: number;
  /** The class id of unconditional generation (and of the embed graph's prefix). */
  nullClass: number;
  /** AR transformer: L layers x H heads x D per head (the KV cache's shape). */
  layers: number;
  heads: number;
  headDim: number;
}

export function modelShapes(manifest: ModelManifest): ModelShapes {
  const { tokenizer, ar } = manifest;
  return {
    imageSize: tokenizer.image_size,
    tokens: tokenizer.tokens_per_image,
    vocab: tokenizer.codebook_size,
    numClasses: ar.num_classes,
    nullClass: ar.null_class_id,
    layers: ar.n_layer,
    heads: ar.n_head,
    headDim: ar.head_dim,
  };
}
