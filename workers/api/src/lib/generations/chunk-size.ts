// How many images one backend call of a generation job carries. A job of N images runs as calls of at
// most this many (chunks), so each call ends well inside the generate deadline and progress, cancel
// and retries work per chunk (docs/architecture.md, Long generation jobs).

/** A chunk is sized to fill this share of the generate deadline at the measured speed: room for a slower backend. */
export const CHUNK_DEADLINE_SHARE = 0.5;

export interface ChunkSizing {
  /** The backend's measured seconds per image for the model; null when it has measured nothing yet. */
  secondsPerImage: number | null;
  /** The deadline of one /v1/generate call. */
  generateTimeoutMs: number;
  /** The chunk when there is no measurement (GENERATION_CHUNK_IMAGES). */
  fallback: number;
  /** The cap on every chunk (GENERATION_MAX_CHUNK_IMAGES). */
  max: number;
}

/** max(1, floor(share x deadline / seconds per image)), capped by `max`; `fallback` when nothing is measured. */
export function chunkImages(sizing: ChunkSizing): number {
  const { secondsPerImage, generateTimeoutMs, fallback, max } = sizing;
  if (secondsPerImage === null) return Math.min(fallback, max);
  const budgetSeconds = (CHUNK_DEADLINE_SHARE * generateTimeoutMs) / 1000;
  return Math.min(max, Math.max(1, Math.floor(budgetSeconds / secondsPerImage)));
}

/** The images [from, to) of the chunk that starts at image `from` of a job of `total` images. */
export function chunkRange(from: number, total: number, size: number): { from: number; to: number } {
  return { from, to: Math.min(total, from + Math.max(1, size)) };
}
