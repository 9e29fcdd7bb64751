// Small numeric helpers for the benchmark suite: percentiles, medians, figure formatting and the
// machine description every result file starts with.
import os from 'node:os';

/** Nearest-rank percentile (p in [0, 100]) of `values`; NaN for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

export const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

/** Three significant figures, without exponent notation for the ranges these figures live in. */
export function fmt(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  const a = Math.abs(x);
  if (a >= 1000) return x.toFixed(0);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(2);
}

/** The seed of the arrivals section's schedule, which bench/arrivals-sim.ts replays. */
export const ARRIVALS_SEED = 12_345;

/**
 * Arrival times (ms from 0) of a Poisson process at `ratePerSecond`: exponential gaps drawn from a
 * fixed-seed generator (mulberry32), so every path, and the simulation, sees the same schedule.
 */
export function poissonArrivalsMs(count: number, ratePerSecond: number, seed: number): number[] {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const times: number[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    at += (-Math.log(1 - next()) / ratePerSecond) * 1000;
    times.push(at);
  }
  return times;
}

/** A ratio as "3.4x". */
export const ratio = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '-' : `${x.toFixed(x >= 10 ? 1 : 2)}x`;

export function bytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  loadAverage: number[];
  platform: string;
  node: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/**
 * Replays the output copies of a sequence of graph runs (each run: its outputs' byte sizes), two ways:
 * `freshMs`, a new buffer per output filled by memcpy (`slice`), which is what onnxruntime-node does
 * with every output (a new ArrayBuffer, zero-filled by V8, then memcpy; page faults included), and
 * `reusedMs`, the same memcpy into one buffer allocated once (the floor any copy-out design pays).
 * The fastest of `repeats` replays, in ms: a garbage collection that lands in one replay is noise of
 * this measurement, not a cost of the copies.
 */
export function replayOutputCopies(
  outputsPerRun: readonly (readonly number[])[],
  repeats = 5,
): { freshMs: number; reusedMs: number } {
  const largest = Math.ceil(Math.max(4, ...outputsPerRun.flat()) / 4);
  const src = new Float32Array(largest).fill(1);
  const dst = new Float32Array(largest);
  const fresh: number[] = [];
  const reused: number[] = [];
  let keep = 0;
  for (let r = 0; r < repeats + 1; r++) {
    const t0 = performance.now();
    for (const outputs of outputsPerRun) {
      for (const byteLength of outputs) keep += src.slice(0, Math.ceil(byteLength / 4)).length;
    }
    const t1 = performance.now();
    for (const outputs of outputsPerRun) {
      for (const byteLength of outputs) dst.set(src.subarray(0, Math.ceil(byteLength / 4)));
    }
    const t2 = performance.now();
    if (r === 0) continue; // the first replay warms the allocator
    fresh.push(t1 - t0);
    reused.push(t2 - t1);
  }
  if (keep < 0 || dst[0] !== 1) throw new Error('unreachable'); // keeps the copies observable
  return { freshMs: Math.min(...fresh), reusedMs: Math.min(...reused) };
}
