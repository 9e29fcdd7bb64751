import { describe, expect, it } from 'vitest';
import { JOB_POLL, PollSchedule } from './poll-schedule.ts';

describe('PollSchedule', () => {
  it('starts at 250 ms, grows by half each time and stops growing at 3 s', () => {
    const schedule = new PollSchedule();
    const delays = Array.from({ length: 9 }, () => schedule.next());
    expect(delays).toEqual([250, 375, 562.5, 843.75, 1265.625, 1898.4375, 2847.65625, 3000, 3000]);
    expect(Math.max(...delays)).toBe(JOB_POLL.maxMs);
  });

  it('reads fast again after a reset', () => {
    const schedule = new PollSchedule();
    for (let i = 0; i < 10; i++) schedule.next();
    schedule.reset();
    expect([schedule.next(), schedule.next()]).toEqual([250, 375]);
  });

  it('settles at 20 reads a minute once idle', () => {
    const schedule = new PollSchedule();
    // The ramp: 250 ms up to about 2.85 s.
    for (let i = 0; i < 7; i++) schedule.next();
    const minute = Array.from({ length: 20 }, () => schedule.next());
    expect(minute.reduce((sum, delay) => sum + delay, 0)).toBe(60_000);
  });
});
