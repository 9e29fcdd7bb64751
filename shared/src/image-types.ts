// The image types the API takes for upload, recognised from their first bytes (magic numbers, as the
// WHATWG MIME Sniffing standard's image signatures), never from a Content-Type header or a file name.
// The Worker refuses what is not accepted before calling the backend; the backend refuses the same with
// the same words, so a client gets one answer whichever piece saw the bytes first.
import { ApiError, ErrorCode } from './errors.ts';

/** What the backend decodes: PNG, JPEG and WebP, in the order the answers name them. */
export const ACCEPTED_IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;
export type AcceptedImageType = (typeof ACCEPTED_IMAGE_TYPES)[number];

/** Recognised by signature: the accepted types, and GIF, which is named in the refusal but not decoded. */
export const SNIFFED_IMAGE_TYPES = [...ACCEPTED_IMAGE_TYPES, 'image/gif'] as const;
export type SniffedImageType = (typeof SNIFFED_IMAGE_TYPES)[number];

/** The name a person knows each type by, for messages. */
export const IMAGE_TYPE_NAMES: Readonly<Record<SniffedImageType, string>> = Object.freeze({
  'image/png': 'PNG',
  'image/jpeg': 'JPEG',
  'image/webp': 'WebP',
  'image/gif': 'GIF',
});

/** "PNG, JPEG or WebP": the accepted types as a message lists them. */
export const ACCEPTED_IMAGE_NAMES = (() => {
  const names = ACCEPTED_IMAGE_TYPES.map((type) => IMAGE_TYPE_NAMES[type]);
  return `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
})();

const ascii = (text: string): readonly number[] => [...text].map((ch) => ch.charCodeAt(0));

/** Signatures from the WHATWG MIME Sniffing standard, section 6.1 (image type pattern matching). */
const SIGNATURES: readonly {
  type: SniffedImageType;
  parts: readonly { offset: number; bytes: readonly number[] }[];
}[] = [
  { type: 'image/png', parts: [{ offset: 0, bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] }] },
  { type: 'image/jpeg', parts: [{ offset: 0, bytes: [0xff, 0xd8, 0xff] }] },
  {
    // "RIFF", a 4-byte size, then "WEBPVP" (a VP8, VP8L or VP8X chunk follows).
    type: 'image/webp',
    parts: [
      { offset: 0, bytes: ascii('RIFF') },
      { offset: 8, bytes: ascii('WEBPVP') },
    ],
  },
  { type: 'image/gif', parts: [{ offset: 0, bytes: ascii('GIF87a') }] },
  { type: 'image/gif', parts: [{ offset: 0, bytes: ascii('GIF89a') }] },
];

function startsWith(bytes: Uint8Array, part: { offset: number; bytes: readonly number[] }): boolean {
  const { offset } = part;
  return bytes.length >= offset + part.bytes.length && part.bytes.every((b, i) => bytes[offset + i] === b);
}

/** The image type `bytes` start with, or null when they start with none of SNIFFED_IMAGE_TYPES. */
export function sniffImageType(bytes: Uint8Array): SniffedImageType | null {
  for (const signature of SIGNATURES) {
    if (signature.parts.every((part) => startsWith(bytes, part))) return signature.type;
  }
  return null;
}

export function isAcceptedImageType(type: string | null): type is AcceptedImageType {
  return (ACCEPTED_IMAGE_TYPES as readonly (string | null)[]).includes(type);
}

/** Why upload bytes are refused before any decoding: the problem code and the words of the answer. */
export interface ImageTypeProblem {
  code: typeof ErrorCode.invalid_image | typeof ErrorCode.unsupported_media_type;
  detail: string;
  field: string;
}

/**
 * The 4xx answer for upload bytes in `field` (`image`, `images.0`), or null when they are an accepted
 * type: empty -> 400 invalid_image; a GIF -> 415 naming it; anything else -> 415. Both the Worker and
 * the backend answer with these words.
 */
export function imageTypeProblem(bytes: Uint8Array, field: string): ImageTypeProblem | null {
  if (bytes.length === 0) {
    return {
      code: ErrorCode.invalid_image,
      detail: `'${field}' is empty; send ${ACCEPTED_IMAGE_NAMES}`,
      field,
    };
  }
  const type = sniffImageType(bytes);
  if (isAcceptedImageType(type)) return null;
  const detail =
    type === null
      ? `'${field}' is not a ${ACCEPTED_IMAGE_NAMES} image`
      : `'${field}' is a ${IMAGE_TYPE_NAMES[type]} image; send ${ACCEPTED_IMAGE_NAMES}`;
  return { code: ErrorCode.unsupported_media_type, detail, field };
}

/** The accepted type of upload bytes; throws the ApiError of imageTypeProblem otherwise. */
export function requireAcceptedImage(bytes: Uint8Array, field: string): AcceptedImageType {
  const refused = imageTypeProblem(bytes, field);
  if (refused) throw new ApiError(refused.code, refused.detail, { field: refused.field });
  return sniffImageType(bytes) as AcceptedImageType;
}
