import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readTar, writeTar } from '@gigatok/shared';
import { describe, expect, it } from 'vitest';
import { extractTar, packTars } from './image-folder.ts';

const entry = (name: string, size: number) => ({ name, bytes: new Uint8Array(size).fill(name.length) });

describe('image folders', () => {
  it('packs entries into tars under the size limit, in order, never splitting an entry', () => {
    const entries = [entry('a/1.png', 3000), entry('a/2.png', 3000), entry('b/1.png', 3000)];
    const tars = packTars(entries, 10 * 1024);
    expect(tars).toHaveLength(2);
    for (const tar of tars) expect(tar.length).toBeLessThanOrEqual(10 * 1024);
    expect(tars.flatMap((tar) => [...readTar(tar)])).toEqual(entries);
  });

  it('extracts a tar under a directory and refuses an entry that climbs out of it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gigatok-extract-'));
    expect(await extractTar(writeTar([entry('x_codes/0.npy', 10)]), dir)).toBe(1);
    expect(readFileSync(path.join(dir, 'x_codes/0.npy'))).toHaveLength(10);
    await expect(extractTar(writeTar([entry('../escape.npy', 1)]), dir)).rejects.toThrow(/outside/);
  });
});
