// How long /v1/generate takes per image for one model, as the Worker's deadline sees it: the wall time
// of each served call (queueing, sampling, decoding) over its image count, averaged. The Worker sizes
// the chunks of a long job from it (GET /v1/models, `estimated_seconds_per_image`).

/** Weight of the newest call in the running average: recent load counts, one odd call does not rule. */
const NEWEST_WEIGHT = 0.3;

export class GenerateSpeed {
  #secondsPerImage: number | null = null;

  /** Records one served call of `images` images that took `seconds` in all. */
  record(images: number, seconds: number): void {
    if (!(images > 0) || !(seconds > 0) || !Number.isFinite(seconds)) return;
    const sample = seconds / images;
    this.#secondsPerImage =
      this.#secondsPerImage === null
        ? sample
        : NEWEST_WEIGHT * sample + (1 - NEWEST_WEIGHT) * this.#secondsPerImage;
  }

  /** The running average in seconds per image; null before the first call. */
  get secondsPerImage(): number | null {
    return this.#secondsPerImage;
  }
}
