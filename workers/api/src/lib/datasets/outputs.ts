// A finished dataset's three outputs, built once when its run completes and stored in R2 by content
// (datasets/outputs/<sha256>): the GTOK blob of every row (image-major: row = image * A + augmentation),
// the official extractor's tar (`<name>_codes/<i>.npy` int64 [1, A, T], `<name>_labels/<i>.npy` int64
// [1], as LlamaGen/GigaTok extract_codes_c2i.py saves them), and the JSON manifest (row -> image name,
// class, label, augmentation index, token set id). GTOK has no field for labels, so the labels are in
// the manifest and the tar.
// The token sets come from D1 (dataset_images.tokens, recorded with each batch) in pages of
// OUTPUT_PAGE_ROWS token rows, so the completing message makes at most maxDatasetRows / OUTPUT_PAGE_ROWS
// (20) page queries, 3 R2 puts and its own few D1 calls, whatever the image count; only a row recorded
// before D1 kept the bytes is read from R2 (one get per such image).
import {
  AUGMENTATION_VIEWS,
  type DatasetManifest,
  decodeTokens,
  encodeTokens,
  sha256Hex,
  TOKENS_MEDIA_TYPE,
  type TokenSet,
  writeTar,
} from '@gigatok/shared';
import { getBytes, putOnce, tokensKey } from '../storage/artifacts.ts';
import { int64Npy } from './npy.ts';
import {
  type DatasetImage,
  type DatasetOutputs,
  type DatasetRecord,
  imageTokenPage,
  type OutputFile,
} from './store.ts';

/**
 * Token rows (images x augmentation rows) per D1 page: 1,000 rows of 256 tokens packed at 14 bits are
 * about 450 KB of GTOK bytes (about 1.6 MB as the JSON number arrays the binding returns), far under
 * D1's 50 MB limit on one query result.
 */
export const OUTPUT_PAGE_ROWS = 1000;

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

/**
 * The token set of each image, in order: pages of D1 rows by idx, R2 only for a row without its bytes.
 */
async function readTokenSets(
  env: Env,
  dataset: DatasetRecord,
  images: readonly DatasetImage[],
  pageRows: number,
) {
  const perPage = Math.max(1, Math.floor(pageRows / AUGMENTATION_VIEWS[dataset.augmentation]));
  const sets: TokenSet[] = [];
  while (sets.length < images.length) {
    const from = images[sets.length]!.idx!;
    const page = await imageTokenPage(env.DB, dataset.id, from, perPage);
    if (page.length === 0) throw new Error(`dataset ${dataset.id} has no token set for image index ${from}`);
    const decoded = await Promise.all(
      page.map(async (row, i) => {
        const image = images[sets.length + i];
        if (!image || image.idx !== row.idx || image.tokenId !== row.tokenId) {
          throw new Error(`the images of dataset ${dataset.id} changed while its outputs were written`);
        }
        const gtok = row.gtok ?? (await getBytes(env.ARTIFACTS, tokensKey(row.tokenId)));
        if (!gtok) throw new Error(`token set ${row.tokenId} of dataset ${dataset.id} is missing from R2`);
        return decodeTokens(gtok);
      }),
    );
    sets.push(...decoded);
  }
  return sets;
}

/**
 * Builds and stores the outputs of `dataset` from its images (every one tokenized, in image order),
 * reading their token sets in pages of `pageRows` token rows.
 */
export async function writeOutputs(
  env: Env,
  dataset: DatasetRecord,
  images: readonly DatasetImage[],
  pageRows = OUTPUT_PAGE_ROWS,
): Promise<DatasetOutputs> {
  const A = AUGMENTATION_VIEWS[dataset.augmentation];
  const classes = dataset.classes ?? {};
  const sets = await readTokenSets(env, dataset, images, pageRows);
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
