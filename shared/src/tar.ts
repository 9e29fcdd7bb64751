// POSIX ustar archives (IEEE Std 1003.1-2001, pax "ustar Interchange Format"): a reader for uploaded
// ImageFolder tars (regular files only; pax and GNU long names honoured) and a deterministic writer
// (mode 0644, owner 0, mtime 0), so equal entries always give equal archive bytes.

const BLOCK = 512;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface TarEntry {
  /** Path inside the archive, '/'-separated, without a leading './'. */
  name: string;
  bytes: Uint8Array;
}

export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

function text(block: Uint8Array, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

function octal(block: Uint8Array, start: number, length: number, what: string): number {
  if ((block[start]! & 0x80) !== 0) throw new TarFormatError(`base-256 ${what} fields are not supported`);
  const value = text(block, start, length).trim();
  if (value === '') return 0;
  if (!/^[0-7]+$/.test(value)) throw new TarFormatError(`bad octal ${what} field '${value}'`);
  return Number.parseInt(value, 8);
}

function checksum(block: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum;
}

/** pax extended header records ("<len> key=value\n"): the `path` record, if any. */
function paxPath(data: Uint8Array): string | undefined {
  const records = decoder.decode(data);
  let path: string | undefined;
  for (const line of records.split('\n')) {
    const match = /^\d+ path=(.*)$/s.exec(line);
    if (match) path = match[1];
  }
  return path;
}

function cleanName(name: string): string {
  return name.replace(/^(\.\/)+/, '');
}

/**
 * The regular files of a tar archive, in archive order. Directories, links and other entry types are
 * passed over; a bad checksum, a truncated entry or a missing end is a TarFormatError.
 */
export function* readTar(archive: Uint8Array): Generator<TarEntry> {
  let offset = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) return;
    const stored = octal(header, 148, 8, 'checksum');
    if (stored !== checksum(header)) throw new TarFormatError(`bad header checksum at byte ${offset}`);
    const size = octal(header, 124, 12, 'size');
    const type = String.fromCharCode(header[156]!);
    const start = offset + BLOCK;
    const end = start + size;
    if (end > archive.length) throw new TarFormatError(`entry at byte ${offset} is truncated`);
    const data = archive.subarray(start, end);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x') {
      longName = paxPath(data);
      continue;
    }
    if (type === 'L') {
      longName = text(data, 0, data.length);
      continue;
    }
    const ustar = text(header, 257, 6) === 'ustar';
    const prefix = ustar ? text(header, 345, 155) : '';
    const name = longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    longName = undefined;
    if (type === '0' || type === '\0' || type === '7') yield { name: cleanName(name), bytes: data };
  }
  if (offset < archive.length) throw new TarFormatError('the archive ends inside a header block');
}

function writeField(block: Uint8Array, start: number, length: number, value: string): void {
  const bytes = encoder.encode(value);
  if (bytes.length > length) throw new TarFormatError(`'${value}' does not fit a ${length}-byte field`);
  block.set(bytes, start);
}

function writeOctal(block: Uint8Array, start: number, length: number, value: number): void {
  writeField(block, start, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/** Splits a path into ustar's prefix (155 bytes) and name (100 bytes) at a '/'. */
function splitName(name: string): [prefix: string, name: string] {
  if (encoder.encode(name).length <= 100) return ['', name];
  for (let i = name.lastIndexOf('/'); i > 0; i = name.lastIndexOf('/', i - 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(rest).length <= 100) return [prefix, rest];
  }
  throw new TarFormatError(`the path '${name}' is too long for a ustar header`);
}

/** A ustar archive of `entries` (regular files, mode 0644, mtime 0), ended by two zero blocks. */
export function writeTar(entries: Iterable<TarEntry>): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const entry of entries) {
    const header = new Uint8Array(BLOCK);
    const [prefix, name] = splitName(entry.name);
    writeField(header, 0, 100, name);
    writeOctal(header, 100, 8, 0o644);
    writeOctal(header, 108, 8, 0);
    writeOctal(header, 116, 8, 0);
    writeOctal(header, 124, 12, entry.bytes.length);
    writeOctal(header, 136, 12, 0);
    header[156] = 0x30; // '0': regular file
    writeField(header, 257, 6, 'ustar\0');
    writeField(header, 263, 2, '00');
    writeField(header, 345, 155, prefix);
    writeField(header, 148, 8, `${checksum(header).toString(8).padStart(6, '0')}\0 `);
    parts.push(header, entry.bytes);
    total += BLOCK + Math.ceil(entry.bytes.length / BLOCK) * BLOCK;
  }
  const out = new Uint8Array(total + 2 * BLOCK);
  let offset = 0;
  for (let i = 0; i < parts.length; i += 2) {
    out.set(parts[i]!, offset);
    out.set(parts[i + 1]!, offset + BLOCK);
    offset += BLOCK + Math.ceil(parts[i + 1]!.length / BLOCK) * BLOCK;
  }
  return out;
}
