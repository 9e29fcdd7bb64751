// How often the Worker reads a job row from D1 while someone waits on it (`Prefer: wait` and the
// events stream): 250 ms after the start, then half as long again each time, at most 3 s apart. A job
// that takes 1 s costs 3 reads, one of 7 s 7, a whole 30 s wait 15, and an idle watcher settles at 20 a
// minute (a fixed 250 ms poll costs 4, 28, 120 and 240). The job may change in any isolate, and a
// promise resolved from another request's context cannot wake this one in workerd, so D1 is read
// rather than signalled.

export const JOB_POLL = { firstMs: 250, factor: 1.5, maxMs: 3000 } as const;

/** The delays between reads: `next()` gives the next one, `reset()` starts again from the fastest. */
export class PollSchedule {
  #interval: number = JOB_POLL.firstMs;

  next(): number {
    const delay = this.#interval;
    this.#interval = Math.min(this.#interval * JOB_POLL.factor, JOB_POLL.maxMs);
    return delay;
  }

  /** Something changed: the next change is likely soon, so read fast again. */
  reset(): void {
    this.#interval = JOB_POLL.firstMs;
  }
}
