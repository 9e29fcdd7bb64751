// One upload of dataset images: an ImageFolder tar (`<class>/<file>`, parsed with shared's ustar reader)
// or a multipart body (file parts `image`, optional `label` text parts in the same order). Every image
// is checked like a tokenize upload (size, type from its bytes, geometry), stored in R2 by content under
// the tenant (datasets/<tenant>/images/<sha256>) and recorded in D1.
import {
  ApiError,
  CLASS_NAME_RE,
  ErrorCode,
  LIMITS,
  readTar,
  sha256Hex,
  TarFormatError,
} from '@gigatok/shared';
import { mediaType } from '../http/request-body.ts';
import { putOnce } from '../storage/artifacts.ts';
import { checkImageBytes } from '../tokens/tokenize.ts';
import { addImages, type DatasetRecord } from './store.ts';

export const TAR_MEDIA_TYPE = 'application/x-tar';

export const datasetImageKey = (tenantId: string, sha256: string) => `datasets/${tenantId}/images/${sha256}`;

interface UploadedImage {
  name: string;
  className: string;
  bytes: Uint8Array;
}

/** The class of a path: the folder that holds the file (`cat/1.jpg` and `train/cat/1.jpg` -> cat). */
function classOf(name: string): string | undefined {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  return parts.length >= 2 ? parts[parts.length - 2] : undefined;
}

function checkName(name: string, field: string): void {
  if (new TextEncoder().encode(name).length > LIMITS.maxDatasetImageNameLength) {
    throw new ApiError(
      ErrorCode.invalid_parameter,
      `'${field}' names '${name.slice(0, 40)}…': image paths must be at most ${LIMITS.maxDatasetImageNameLength} bytes`,
      { field, limit: LIMITS.maxDatasetImageNameLength },
    );
  }
}

function checkClass(className: string, name: string, field: string): void {
  if (!CLASS_NAME_RE.test(className) || className.length > LIMITS.maxClassLabelLength) {
    throw new ApiError(
      ErrorCode.invalid_parameter,
      `'${field}': the class of '${name}' must be 1 to ${LIMITS.maxClassLabelLength} characters without '/' or control characters`,
      { field, limit: LIMITS.maxClassLabelLength },
    );
  }
}

/** Hidden files (`.DS_Store`, macOS `._*` resource forks) are not images of the dataset. */
const isHidden = (name: string) => (name.split('/').at(-1) ?? '').startsWith('.');

function fromTar(archive: Uint8Array): UploadedImage[] {
  const images: UploadedImage[] = [];
  try {
    for (const entry of readTar(archive)) {
      if (isHidden(entry.name)) continue;
      const className = classOf(entry.name);
      if (className === undefined) {
        throw new ApiError(
          ErrorCode.invalid_parameter,
          `tar entry '${entry.name}' is not inside a class folder: ImageFolder layout is <class>/<file>`,
          { field: 'body' },
        );
      }
      images.push({ name: entry.name, className, bytes: entry.bytes });
    }
  } catch (error) {
    if (error instanceof TarFormatError) {
      throw new ApiError(ErrorCode.invalid_parameter, `the tar body is malformed: ${error.message}`, {
        field: 'body',
      });
    }
    throw error;
  }
  return images;
}

async function fromMultipart(request: Request): Promise<UploadedImage[]> {
  let form: FormData;
  try {
    form = await request.formData();
  } catch {
    throw new ApiError(ErrorCode.invalid_parameter, 'the multipart body is malformed', { field: 'image' });
  }
  const files = form.getAll('image');
  const labels = form.getAll('label');
  if (labels.length > 0 && labels.length !== files.length) {
    throw new ApiError(
      ErrorCode.invalid_parameter,
      `'label' must be given once per 'image' part (${files.length}) or not at all, got ${labels.length}`,
      { field: 'label' },
    );
  }
  const images: UploadedImage[] = [];
  for (const [i, file] of files.entries()) {
    if (typeof file === 'string') {
      throw new ApiError(ErrorCode.invalid_parameter, "'image' parts must be files, not text fields", {
        field: 'image',
      });
    }
    const label = labels[i];
    const className = typeof label === 'string' ? label : classOf(file.name);
    if (className === undefined) {
      throw new ApiError(
        ErrorCode.missing_parameter,
        `image '${file.name}' has no class: give a 'label' part per image or a filename '<class>/<file>'`,
        { field: 'label' },
      );
    }
    const base = file.name.split('/').at(-1) || `image-${i}`;
    images.push({
      name: typeof label === 'string' ? `${className}/${base}` : file.name,
      className,
      bytes: new Uint8Array(await file.arrayBuffer()),
    });
  }
  return images;
}

/** Reads the upload's images (tar or multipart) and refuses any other body. */
export async function readUpload(request: Request): Promise<UploadedImage[]> {
  const type = mediaType(request.headers.get('content-type'));
  if (type === TAR_MEDIA_TYPE) return fromTar(new Uint8Array(await request.arrayBuffer()));
  if (type === 'multipart/form-data') return fromMultipart(request);
  throw new ApiError(
    ErrorCode.unsupported_media_type,
    `send images as ${TAR_MEDIA_TYPE} (ImageFolder: <class>/<file>) or multipart/form-data, got ${type === '' ? 'no Content-Type' : `'${type}'`}`,
  );
}

/** Checks, stores and records `images` in `dataset`; a class missing from a label mapping is a 400. */
export async function storeUpload(
  env: Env,
  dataset: DatasetRecord,
  images: readonly UploadedImage[],
): Promise<{ added: number; skipped: number; total: number }> {
  if (images.length === 0) {
    throw new ApiError(ErrorCode.missing_parameter, 'the upload holds no images', { field: 'body' });
  }
  if (dataset.imagesTotal + images.length > LIMITS.maxDatasetImages) {
    throw new ApiError(
      ErrorCode.invalid_parameter,
      `a dataset holds at most ${LIMITS.maxDatasetImages} images; it has ${dataset.imagesTotal} and the upload adds ${images.length}`,
      { field: 'body', limit: LIMITS.maxDatasetImages },
    );
  }
  const mapping = dataset.labels === 'folders' ? null : dataset.labels.mapping;
  const stored = [];
  for (const image of images) {
    const field = `images['${image.name}']`;
    checkName(image.name, field);
    checkClass(image.className, image.name, field);
    if (mapping && !(image.className in mapping)) {
      throw new ApiError(
        ErrorCode.invalid_parameter,
        `image '${image.name}' is of class '${image.className}', which 'labels.mapping' does not name`,
        { field: 'labels.mapping' },
      );
    }
    try {
      checkImageBytes(image.bytes);
    } catch (error) {
      if (error instanceof ApiError) {
        throw new ApiError(error.code, `image '${image.name}': ${error.message}`, {
          field,
          ...(error.limit === undefined ? {} : { limit: error.limit }),
        });
      }
      throw error;
    }
    const sha256 = await sha256Hex(image.bytes);
    stored.push({ name: image.name, className: image.className, sha256, bytes: image.bytes });
  }
  await Promise.all(
    stored.map((image) =>
      putOnce(env.ARTIFACTS, datasetImageKey(dataset.tenantId, image.sha256), image.bytes, {
        contentType: 'application/octet-stream',
      }),
    ),
  );
  const { added, total } = await addImages(env.DB, dataset.id, stored);
  return { added, skipped: images.length - added, total };
}
