import { describe, expect, it } from 'vitest';
import { GenerateSpeed } from '../src/service/generate-speed.ts';

describe('GenerateSpeed', () => {
  it('has no estimate before the first call', () => {
    expect(new GenerateSpeed().secondsPerImage).toBeNull();
  });

  it('starts from the first call and moves 30% of the way toward each newer one', () => {
    const speed = new GenerateSpeed();
    speed.record(4, 2); // 0.5 s an image
    expect(speed.secondsPerImage).toBe(0.5);
    speed.record(1, 1.5); // 1.5 s an image
    expect(speed.secondsPerImage).toBeCloseTo(0.8, 12);
  });

  it('ignores a call with no images or no measurable time', () => {
    const speed = new GenerateSpeed();
    speed.record(0, 3);
    speed.record(2, 0);
    speed.record(2, Number.POSITIVE_INFINITY);
    expect(speed.secondsPerImage).toBeNull();
  });
});
