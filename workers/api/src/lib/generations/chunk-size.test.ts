import { describe, expect, it } from 'vitest';
import { chunkImages, chunkRange } from './chunk-size.ts';

const sizing = { generateTimeoutMs: 120_000, fallback: 4, max: 16 };

describe('chunkImages', () => {
  it('fills half the deadline at the measured speed: GPT-B at 7 s an image gets 8 images a call', () => {
    // 0.5 x 120 s / 7 s = 8.57: 8 images, about 56 s at batch-1 speed, well inside 120 s.
    expect(chunkImages({ ...sizing, secondsPerImage: 7 })).toBe(8);
    // At the batch-4 speed (16.9 s / 4 = 4.2 s an image) 14 images a call.
    expect(chunkImages({ ...sizing, secondsPerImage: 16.9 / 4 })).toBe(14);
  });

  it('never goes below one image, even when one image takes longer than the budget', () => {
    expect(chunkImages({ ...sizing, secondsPerImage: 200 })).toBe(1);
  });

  it('caps a fast model at the max', () => {
    expect(chunkImages({ ...sizing, secondsPerImage: 0.01 })).toBe(16);
    expect(chunkImages({ ...sizing, max: 2, secondsPerImage: 0.01 })).toBe(2);
  });

  it('uses the fallback, under the cap, when the backend measured nothing', () => {
    expect(chunkImages({ ...sizing, secondsPerImage: null })).toBe(4);
    expect(chunkImages({ ...sizing, max: 3, secondsPerImage: null })).toBe(3);
  });
});

describe('chunkRange', () => {
  it('ends a chunk at the job end', () => {
    expect(chunkRange(0, 16, 6)).toEqual({ from: 0, to: 6 });
    expect(chunkRange(12, 16, 6)).toEqual({ from: 12, to: 16 });
  });
});
