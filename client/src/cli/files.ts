// Writing CLI outputs: "-" means stdout; otherwise parent folders are created and the file replaced.

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CliContext } from './context.ts';

export async function writeOutput(path: string, bytes: Uint8Array, ctx: CliContext): Promise<void> {
  if (path === '-') {
    ctx.stdout.write(bytes);
    return;
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}
