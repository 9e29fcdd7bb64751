// What a generate request asks for, and the per-image rows the schedulers queue: image i of a request
// draws its uniforms from (seed, i, step) on either generate path, so its tokens do not depend on
// which other rows share its runs.

export type CfgSchedule = 'constant' | 'step';

export interface SamplingParams {
  cfgScale: number;
  cfgSchedule: CfgSchedule;
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1.0 = off. */
  topP: number;
}

export interface GenerateRequest {
  seed: number;
  /** One per image; null = unconditional. Image i uses uniforms (seed, firstIndex + i). */
  classIds: readonly (number | null)[];
  /**
   * Index of the first image in the whole job (0 unless the job runs in chunks): a chunk's images
   * draw the uniforms they would draw in one call of the whole job.
   */
  firstIndex?: number;
  params: SamplingParams;
  /** Optional forced first tokens per image (variations), checked by the caller. */
  prefixes?: readonly (readonly number[])[];
}

/** One image to generate. Rows of one run may come from different requests. */
export interface GenerationRow {
  seed: number;
  /** Index of the image in its request: its uniforms are u(seed, imageIndex, 0..T-1). */
  imageIndex: number;
  /** null = unconditional (the null class on both halves of the guidance batch). */
  classId: number | null;
  params: SamplingParams;
  /** Tokens forced at positions 0..K-1 (variations). */
  prefix?: readonly number[];
}

/** The rows of a request, image i at index firstIndex + i. */
export function rowsOf(request: GenerateRequest): GenerationRow[] {
  const first = request.firstIndex ?? 0;
  return request.classIds.map((classId, i) => ({
    seed: request.seed,
    imageIndex: first + i,
    classId,
    params: request.params,
    ...(request.prefixes === undefined ? {} : { prefix: request.prefixes[i] ?? [] }),
  }));
}
