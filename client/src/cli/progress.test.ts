import { describe, expect, it } from 'vitest';
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

  it('redraws a spinner line in place on a terminal and clears it on stop', async () => {
    const out = sink(true);
    const progress = new Progress(out);
    progress.status('job_1 running');
    await new Promise((r) => setTimeout(r, 250));
    progress.event('job_1 succeeded');
    progress.stop();
    const spins = out.writes.filter((w) => w.startsWith('\r\x1b[2K') && w.includes('job_1 running'));
    expect(spins.length).toBeGreaterThanOrEqual(2);
    expect(out.writes.some((w) => /^\[ {2}0\.\ds\] job_1 succeeded\n$/.test(w))).toBe(true);
    expect(out.writes.at(-1)).toBe('\r\x1b[2K');
  });
});
