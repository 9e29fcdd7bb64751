// Every numeric limit of the API in one place, so schemas, the Worker, the backend and the docs agree.

/** Characters of standard padded base64 for `bytes` bytes. */
export const base64Length = (bytes: number): number => 4 * Math.ceil(bytes / 3);

const MAX_IMAGE_BYTES = 10 * 1024 * 1024;

export const LIMITS = {
  /** Largest uploaded image, in bytes (10 MiB). */
  maxImageBytes: MAX_IMAGE_BYTES,
  /** Largest base64 image string in a JSON body. */
  maxImageBase64Chars: base64Length(MAX_IMAGE_BYTES),
  /** Largest decoded image, width x height (40 megapixels): bounds memory before resizing. */
  maxImagePixels: 40_000_000,
  /**
   * Longest accepted image side, read from the header before decoding (16384: every WebP fits, its
   * format stops at 16383; a JPEG or PNG may claim up to 65535 or 2^31 on a side in a few hundred bytes).
   */
  maxImageSide: 16_384,
  /**
   * Largest accepted long side : short side. The centre crop keeps 1/ratio of the long side; at 64 the
   * resized strip is at most 64 x the model's size wide (16384 x 256 pixels at 256), where an extreme
   * shape such as 65535x1 would ask for a 16.7M x 256 intermediate. Panoramas stay well inside.
   */
  maxImageAspectRatio: 64,
  /** Largest JSON request body: one base64 image plus room for the other fields. */
  maxJsonBodyBytes: base64Length(MAX_IMAGE_BYTES) + 64 * 1024,
  /**
   * Largest body of POST /v1/datasets/{id}/images (tar or multipart), 90 MiB: under the 100 MB request
   * body limit of Cloudflare's paid plans (free plans stop at 100 MB too; Enterprise may go higher).
   */
  maxDatasetUploadBytes: 90 * 1024 * 1024,
  /** Images in one dataset. */
  maxDatasetImages: 10_000,
  /**
   * Rows (images x rows per augmentation) of one dataset run: its outputs are assembled in one Worker
   * invocation (128 MB of memory), and 20000 rows of 256 int64 tokens make a 41 MB .npy tar.
   */
  maxDatasetRows: 20_000,
  /** Longest dataset name; it names the official layout's folders (`<name>_codes/`). */
  maxDatasetNameLength: 64,
  /** Longest image path inside a dataset (`class_name/file.jpg`), in bytes of UTF-8. */
  maxDatasetImageNameLength: 255,
  /** Images per public generation request. */
  maxCount: 16,
  /** Images or token rows per backend call. */
  maxBackendBatch: 64,
  /** Largest `Prefer: wait=N` honoured, in seconds (RFC 7240). */
  maxPreferWaitSeconds: 60,
  maxSeed: 0xffffffff,
  maxCfgScale: 20,
  maxTemperature: 5,
  minCodebookSize: 2,
  /** Same bound as the GTOK format (docs/token-format.md). */
  maxCodebookSize: 2 ** 24,
  maxTokensPerImage: 4096,
  maxClassId: 2 ** 24 - 1,
  /** Longest class label in a manifest, and so the longest label a request can name a class by. */
  maxClassLabelLength: 200,
  maxListLimit: 100,
  defaultListLimit: 20,
  maxCursorLength: 512,
  maxIdempotencyKeyLength: 255,
  maxWebhookUrlLength: 2048,
  maxRequestIdLength: 128,
  /** Standard Webhooks timestamp tolerance, seconds. */
  webhookToleranceSeconds: 300,
  /** Worker -> backend signature replay window, seconds. */
  backendReplayWindowSeconds: 300,
} as const;
