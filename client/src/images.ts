// Image bytes for upload: the media type sniffed from the file signature, so a bare Uint8Array is
// sent with the same type a browser would give the file.

const SIGNATURES: { type: string; test: (b: Uint8Array) => boolean }[] = [
  { type: 'image/png', test: (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 },
  { type: 'image/jpeg', test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { type: 'image/gif', test: (b) => b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38 },
  {
    // RIFF....WEBP
    type: 'image/webp',
    test: (b) =>
      b[0] === 0x52 &&
      b[1] === 0x49 &&
      b[2] === 0x46 &&
      b[3] === 0x46 &&
      b[8] === 0x57 &&
      b[9] === 0x45 &&
      b[10] === 0x42 &&
      b[11] === 0x50,
  },
];

/** The image media type of `bytes` from its magic number, or null when it is none we know. */
export function sniffImageType(bytes: Uint8Array): string | null {
  return SIGNATURES.find((s) => s.test(bytes))?.type ?? null;
}

/** A Blob with the best media type we can give: the Blob's own, else the sniffed one. */
export async function toImageBlob(image: Uint8Array | Blob): Promise<Blob> {
  if (image instanceof Blob) {
    if (image.type.startsWith('image/')) return image;
    const head = new Uint8Array(await image.slice(0, 12).arrayBuffer());
    return new Blob([image], { type: sniffImageType(head) ?? 'application/octet-stream' });
  }
  return new Blob([image as Uint8Array<ArrayBuffer>], {
    type: sniffImageType(image) ?? 'application/octet-stream',
  });
}

/** File extension for an image media type (for names the CLI writes). */
export function extensionFor(contentType: string | null): string {
  const type = (contentType ?? '').split(';')[0]!.trim();
  return { 'image/png': 'png', 'image/webp': 'webp', 'image/jpeg': 'jpg', 'image/gif': 'gif' }[type] ?? 'bin';
}
