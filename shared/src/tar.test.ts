import { describe, expect, it } from 'vitest';
import { readTar, TarFormatError, writeTar } from './tar.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

/**
 * An archive written by Python's tarfile (pax format): a directory './cat', './cat/a.png' (700 bytes of
 * 'A'), 'dog/<120 x>.png' (its name only in a pax header) and a symlink 'dog/link'. Gzipped, base64.
 */
const PYTHON_PAX_TAR_GZ =
  'H4sIAAAAAAACA+3XuwrCMBQG4Mw+RZ4g94uLoJujrxBsqaLUUiv08Y0dhErBxbRq/29JyJLhcE7+ML4PDSdJicgZ063R6zqwd844Qi0Zwe3ahDpeSeaJdfUPrCqLqeovlTdEGquM98J0594ZS6hA/ZPbAPwoAh+Y/4yvd6Hd5iHL63Tzf2DuP998JVX//ZfxSBDaYv4nJ/WSVqE5rLJLwduJPNLHAr04hTHK/j7/637+01Zajfw3Uv3RBDPv//OxPH3V/18KHSMBVWm/peh/AAAAAAAAAAAAAPhbd/c2KDcAKAAA';

async function gunzip(base64: string): Promise<Uint8Array> {
  const packed = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe('tar', () => {
  it("reads another writer's pax archive: regular files only, long names from pax headers", async () => {
    const entries = [...readTar(await gunzip(PYTHON_PAX_TAR_GZ))];
    expect(entries.map((e) => e.name)).toEqual(['cat/a.png', `dog/${'x'.repeat(120)}.png`]);
    expect(entries[0]!.bytes).toEqual(new Uint8Array(700).fill(0x41));
    expect(new TextDecoder().decode(entries[1]!.bytes)).toBe('dog');
  });

  it('round-trips entries, long paths split into prefix and name, and writes the same bytes twice', () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(90)}.npy`;
    const entries = [
      { name: 'a_codes/0.npy', bytes: bytes('zero') },
      { name: long, bytes: new Uint8Array(513).fill(7) },
      { name: 'empty', bytes: new Uint8Array(0) },
    ];
    const archive = writeTar(entries);
    expect(archive.length % 512).toBe(0);
    expect([...readTar(archive)]).toEqual(entries);
    expect(writeTar(entries)).toEqual(archive);
  });

  it('refuses a flipped header byte, a truncated entry and a path no header can hold', () => {
    const archive = writeTar([{ name: 'x.png', bytes: new Uint8Array(600) }]);
    const flipped = archive.slice();
    flipped[3]! ^= 1;
    expect(() => [...readTar(flipped)]).toThrow(/checksum/);
    expect(() => [...readTar(archive.subarray(0, 1024))]).toThrow(/truncated/);
    expect(() => writeTar([{ name: 'n'.repeat(300), bytes: new Uint8Array(0) }])).toThrow(TarFormatError);
  });
});
