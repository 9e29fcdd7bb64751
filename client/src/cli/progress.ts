// Progress display for long CLI commands, on stderr: one line per job status transition with the
// elapsed time, plus a spinner redrawn in place only when stderr is a terminal (a log stays clean).

const FRAMES = ['|', '/', '-', '\\'];

export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean | undefined;
}

export class Progress {
  readonly #sink: ProgressSink;
  readonly #started: number;
  readonly #now: () => number;
  #label = '';
  #frame = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(sink: ProgressSink, now: () => number = Date.now) {
    this.#sink = sink;
    this.#now = now;
    this.#started = now();
    if (sink.isTTY) {
      this.#timer = setInterval(() => this.#draw(), 100);
      // The spinner must never keep the process alive on its own.
      this.#timer.unref?.();
    }
  }

  elapsed(): string {
    return `${((this.#now() - this.#started) / 1000).toFixed(1)}s`;
  }

  /** A permanent line: a status transition or another event worth keeping in the log. */
  event(text: string): void {
    this.#clear();
    this.#sink.write(`[${this.elapsed().padStart(6)}] ${text}\n`);
    this.#draw();
  }

  /** What the spinner shows next to itself (TTY only; nothing is written otherwise). */
  status(label: string): void {
    this.#label = label;
    this.#draw();
  }

  stop(): void {
    this.#clear();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #draw(): void {
    if (this.#timer === undefined || this.#label === '') return;
    this.#frame = (this.#frame + 1) % FRAMES.length;
    this.#sink.write(`\r\x1b[2K${FRAMES[this.#frame]} ${this.#label} ${this.elapsed()}`);
  }

  #clear(): void {
    if (this.#timer !== undefined) this.#sink.write('\r\x1b[2K');
  }
}
