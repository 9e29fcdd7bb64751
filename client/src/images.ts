// Image bytes for upload: the media type sniffed from the file signature (shared's sniffer, the one
// the API itself judges uploads with), so a bare Uint8Array is sent with the type a browser would give.
import { sniffImageType } from '@gigatok/shared';

/** A Blob with the best media type we can give: the Blob's own, else the sniffed one. */
export async function toImageBlob(image: Uint8Array | Blob): Promise<Blob> {
  if (image instanceof Blob) {
    if (image.type.startsWith('image/')) return image;
    const head = new Uint8Array(await image.slice(0, 16).arrayBuffer());
    return new Blob([image], { type: sniffImageType(head) ?? 'application/octet-stream' });
  }
  return new Blob([image as Uint8Array<ArrayBuffer>], {
    type: sniffImageType(image) ?? 'application/octet-stream',
  });
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/webp': 'webp',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
};

/** File extension for an image media type (for names the CLI writes). */
export function extensionFor(contentType: string | null): string {
  const type = (contentType ?? '').split(';')[0]!.trim();
  return EXTENSIONS[type] ?? 'bin';
}
