// Model directories (docs/model-contract.md): manifest.json validated against the shared schema, and
// every listed file checked for size and sha256 (streamed) before any of it is loaded.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type ModelManifest, ModelManifestSchema } from '@gigatok/shared';

export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Resolves a manifest path inside `dir`. The manifest schema already refuses absolute paths and "..";
 * this re-checks the resolved path, so no later schema change can open the rest of the disk.
 */
export function inside(dir: string, relative: string): string {
  const full = path.resolve(dir, relative);
  if (path.isAbsolute(relative) || !full.startsWith(dir + path.sep)) {
    throw new ModelLoadError(`${dir}/manifest.json: file '${relative}' is outside the model directory`);
  }
  return full;
}

export async function readManifest(dir: string): Promise<ModelManifest> {
  const file = path.join(dir, 'manifest.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ModelLoadError(`${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const parsed = ModelManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ModelLoadError(`${file} is not a valid manifest:\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}

/** Checks that every file the manifest lists exists with the listed size and sha256. */
export async function verifyFiles(dir: string, manifest: ModelManifest): Promise<void> {
  const problems: string[] = [];
  for (const entry of manifest.files) {
    const full = inside(dir, entry.path);
    try {
      const info = await stat(full);
      if (info.size !== entry.bytes) {
        problems.push(`${entry.path}: ${info.size} bytes, manifest says ${entry.bytes}`);
        continue;
      }
      const digest = await sha256File(full);
      if (digest !== entry.sha256.toLowerCase()) {
        problems.push(`${entry.path}: sha256 ${digest}, manifest says ${entry.sha256}`);
      }
    } catch (error) {
      problems.push(`${entry.path}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) {
    throw new ModelLoadError(`${dir}: model files do not match manifest.json:\n  ${problems.join('\n  ')}`);
  }
}
