import { describe, expect, it, vi } from 'vitest';
import { Progress } from './progress.ts';

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, isTTY, write: (t: string) => writes.push(t) };
}

describe('Progress', () => {
  it('writes one plain line per event with the elapsed time when stderr is not a terminal', () => {
    let now = 1_000;
    const out = sink(false);
    const progress = new Progress(out, () => now);
    progress.status('job_1 queued');
    now += 2_500;
    progress.event('job_1 running');
    progress.stop();
    expect(out.writes).toEqual(['[  2.5s] job_1 running\n']);
  });

  it('redraws a spinner line in place every 100 ms on a terminal and clears it on stop', () => {
    vi.useFakeTimers({ now: 0, toFake: ['setInterval', 'clearInterval', 'Date'] });
    try {
      const out = sink(true);
      const progress = new Progress(out);
      progress.status('job_1 running');
      vi.advanceTimersByTime(300);
      progress.event('job_1 succeeded');
      progress.stop();
      expect(vi.getTimerCount()).toBe(0);
      expect(out.writes).toEqual([
        '\r\x1b[2K/ job_1 running 0.0s', // drawn at once by status()
        '\r\x1b[2K- job_1 running 0.1s',
        '\r\x1b[2K\\ job_1 running 0.2s',
        '\r\x1b[2K| job_1 running 0.3s',
        '\r\x1b[2K', // event(): the spinner line is cleared, the event written, the spinner redrawn
        '[  0.3s] job_1 succeeded\n',
        '\r\x1b[2K/ job_1 running 0.3s',
        '\r\x1b[2K', // stop()
      ]);
    } finally {
      vi.useRealTimers();
    }
  });
});
