// A finished dataset's three outputs, built once when its run completes and stored in R2 by content
// (datasets/outputs/<sha256>): the GTOK blob of every row (image-major: row = image * A + augmentation),
// the official extractor's tar (`<name>_codes/<i>.npy` int64 [1, A, T], `<name>_labels/<i>.npy` int64
// [1], as LlamaGen/GigaTok extract_codes_c2i.py saves them), and the JSON manifest (row -> image name,
// class, label, augmentation index, token set id). GTOK has no field for labels, so the labels are in
// the manifest and the tar.
import {
  AUGMENTATION_VIEWS,
  type DatasetManifest,
  decodeTokens,
  encodeTokens,
  sha256Hex,
  TOKENS_MEDIA_TYPE,
  writeTar,
} from '@gigatok/shared';
import { putOnce, tokensKey } from '../storage/artifacts.ts';
import { int64Npy } from './npy.ts';
import type { DatasetImage, DatasetOutputs, DatasetRecord, OutputFile } from './store.ts';

export const outputKey = (sha256: string) => `datasets/outputs/${sha256}`;

export const OUTPUT_MEDIA_TYPES = {
  codes: TOKENS_MEDIA_TYPE,
  tar: 'application/x-tar',
  manifest: 'application/json',
} as const;

async function store(bucket: R2Bucket, bytes: Uint8Array, contentType: string): Promise<OutputFile> {
  const sha256 = await sha256Hex(bytes);
  const key = outputKey(sha256);
  await putOnce(bucket, key, bytes, { contentType });
  return { key, sha256, bytes: bytes.length };
}

/** Builds and stores the outputs of `dataset` from its images (every one tokenized, in image order). */
export async function writeOutputs(
  env: Env,
  dataset: DatasetRecord,
  images: readonly DatasetImage[],
): Promise<DatasetOutputs> {
  const A = AUGMENTATION_VIEWS[dataset.augmentation];
  const classes = dataset.classes ?? {};
  const sets = await Promise.all(
    images.map(async (image) => {
      const object = await env.ARTIFACTS.get(tokensKey(image.tokenId!));
      if (!object) throw new Error(`token set ${image.tokenId} of dataset ${dataset.id} is missing from R2`);
      return decodeTokens(new Uint8Array(await object.arrayBuffer()));
    }),
  );
  const first = sets[0]!;
  const T = first.tokensPerImage;
  const all = new Uint32Array(images.length * A * T);
  for (const [i, set] of sets.entries()) all.set(set.tokens, i * A * T);
  const codes = encodeTokens({
    model: first.model,
    codebookSize: first.codebookSize,
    tokensPerImage: T,
    tokens: all,
  });

  const labels = images.map((image) => classes[image.className]!);
  const tar = writeTar(
    images.flatMap((_, i) => [
      { name: `${dataset.name}_codes/${i}.npy`, bytes: int64Npy([1, A, T], sets[i]!.tokens) },
      { name: `${dataset.name}_labels/${i}.npy`, bytes: int64Npy([1], [labels[i]!]) },
    ]),
  );

  const manifest: DatasetManifest = {
    dataset: dataset.id,
    name: dataset.name,
    model: first.model,
    augmentation: dataset.augmentation,
    rows_per_image: A,
    tokens_per_image: T,
    labels,
    rows: images.flatMap((image, i) =>
      Array.from({ length: A }, (_, a) => ({
        row: i * A + a,
        image: i,
        name: image.name,
        class_name: image.className,
        label: labels[i]!,
        augmentation: a,
        token_id: image.tokenId!,
      })),
    ),
  };
  const [codesFile, tarFile, manifestFile] = await Promise.all([
    store(env.ARTIFACTS, codes, OUTPUT_MEDIA_TYPES.codes),
    store(env.ARTIFACTS, tar, OUTPUT_MEDIA_TYPES.tar),
    store(env.ARTIFACTS, new TextEncoder().encode(JSON.stringify(manifest)), OUTPUT_MEDIA_TYPES.manifest),
  ]);
  return { codes: codesFile, tar: tarFile, manifest: manifestFile };
}
