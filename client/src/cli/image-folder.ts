// ImageFolder directories and tars for `gigatok dataset`: a directory `<root>/<class>/<file>` packed into
// ustar archives of at most the API's upload size each (so a large folder goes up in several requests),
// and output tars unpacked into a directory.

import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { LIMITS, readTar, type TarEntry, writeTar } from '@gigatok/shared';

/** Files ImageFolder picks up, by extension (the API reads the type from the bytes). */
const IMAGE_EXTENSIONS = /\.(png|jpe?g|webp)$/i;

/** Header and padding bytes one entry adds to a tar, at most. */
const ENTRY_OVERHEAD = 1024;

/** The images of an ImageFolder directory as `<class>/<file>` entries, in sorted order. */
export async function readImageFolder(root: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const classes = (await readdir(root, { withFileTypes: true }))
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort();
  for (const className of classes) {
    const files = (await readdir(join(root, className), { withFileTypes: true }))
      .filter((f) => f.isFile() && !f.name.startsWith('.') && IMAGE_EXTENSIONS.test(f.name))
      .map((f) => f.name)
      .sort();
    for (const file of files) {
      entries.push({
        name: `${className}/${file}`,
        bytes: new Uint8Array(await readFile(join(root, className, file))),
      });
    }
  }
  return entries;
}

/** `entries` as tars of at most `maxBytes` each (an entry is never split). */
export function packTars(
  entries: readonly TarEntry[],
  maxBytes: number = LIMITS.maxDatasetUploadBytes,
): Uint8Array[] {
  const tars: Uint8Array[] = [];
  let batch: TarEntry[] = [];
  let size = 1024;
  for (const entry of entries) {
    const added = entry.bytes.length + ENTRY_OVERHEAD;
    if (batch.length > 0 && size + added > maxBytes) {
      tars.push(writeTar(batch));
      batch = [];
      size = 1024;
    }
    batch.push(entry);
    size += added;
  }
  if (batch.length > 0) tars.push(writeTar(batch));
  return tars;
}

/** Tars to upload for `source`: a directory (packed), or a .tar file (split when over the limit). */
export async function uploadTars(source: string): Promise<Uint8Array[]> {
  if ((await stat(source)).isDirectory()) return packTars(await readImageFolder(source));
  const archive = new Uint8Array(await readFile(source));
  if (archive.length <= LIMITS.maxDatasetUploadBytes) return [archive];
  return packTars([...readTar(archive)]);
}

/** Writes the files of `archive` under `dir`, refusing any path that would leave it. */
export async function extractTar(archive: Uint8Array, dir: string): Promise<number> {
  const root = resolve(dir);
  let count = 0;
  for (const entry of readTar(archive)) {
    const target = resolve(root, entry.name);
    if (!target.startsWith(root + sep)) throw new Error(`tar entry '${entry.name}' points outside ${dir}`);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, entry.bytes);
    count++;
  }
  return count;
}
