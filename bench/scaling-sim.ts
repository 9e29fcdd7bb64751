// Scale on paper (docs/scaling.md): the load each target puts on every piece, set against the piece's
// published limit, and a small event simulation of the GPU pool where no GPU was at hand to measure.
//   node --import tsx bench/scaling-sim.ts [--efficiency 0.3] [--hosts 0] [--seconds 60]
// Every input is a named constant below with where it comes from; the output is one JSON object.
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    efficiency: { type: 'string', default: '0.3' },
    hosts: { type: 'string', default: '0' },
    seconds: { type: 'string', default: '60' },
  },
});
/** Fraction of the bandwidth/FLOP floor a real ORT CUDA run reaches (an assumption; bench/gpu.sh measures it). */
const efficiency = Number(args.efficiency);

// --- Published limits (URLs in docs/scaling.md) ---
const LIMITS = {
  queueMessagesPerSecond: 5_000, // Queues: per-queue message throughput
  queueConcurrentConsumers: 250, // Queues: concurrent consumer invocations (push)
  d1QueriesPerSecondAt1ms: 1_000, // D1 FAQ: single-threaded, ~1,000 queries/s at 1 ms a query
  d1DatabaseBytes: 10e9, // D1: 10 GB per database (Workers Paid)
  d1AccountBytes: 1e12, // D1: 1 TB per account
  rateLimitPerKeyPerLocation: 600 / 60, // wrangler.toml: 600 per 60 s per key, counted per location
};

// --- H200 floors (NVIDIA H200 product page; dense = half of the with-sparsity figure) ---
const H200 = { bytesPerSecond: 4.8e12, fp32Flops: 67e12, tf32DenseFlops: 494e12, bf16DenseFlops: 989e12 };

// --- GPT-B as exported (gpu-backend/model/gigatok_model/configs.py; fp32 ONNX) ---
const GPT_B = { dim: 768, layers: 12, vocab: 16_384, tokens: 256, bytesPerValue: 4 };
const weightBytes = 444e6; // ar_step.onnx (docs/performance.md), read once per step per batch
const rowsPerImage = 2; // classifier-free guidance: conditional + unconditional row
const matmulParams = GPT_B.layers * 12 * GPT_B.dim ** 2 + GPT_B.dim * GPT_B.vocab; // blocks + head
const meanContext = GPT_B.tokens / 2 + 1;
const flopsPerRowToken = 2 * matmulParams + GPT_B.layers * 4 * GPT_B.dim * meanContext;
const flopsPerImage = flopsPerRowToken * GPT_B.tokens * rowsPerImage;
// KV cache read per row per step: layers x (K and V) x dim x context x bytes, summed over the steps.
const kvBytesPerImage =
  rowsPerImage *
  GPT_B.layers *
  2 *
  GPT_B.dim *
  GPT_B.bytesPerValue *
  ((GPT_B.tokens * (GPT_B.tokens + 1)) / 2);
const decodeShare = 0.037; // GigaTok paper: decoding 3.7% of generation time (B decoder + GPT-B)

/** Floor seconds of one batch of `b` images (the slower of bandwidth and fp32 compute), decode included. */
function batchFloorSeconds(b: number): number {
  const bandwidth = (GPT_B.tokens * weightBytes + b * kvBytesPerImage) / H200.bytesPerSecond;
  const compute = (b * flopsPerImage) / H200.fp32Flops;
  return Math.max(bandwidth, compute) * (1 + decodeShare);
}
const gpuFloor = Object.fromEntries(
  [1, 4, 16, 64].map((b) => [`batch_${b}`, Math.round(b / batchFloorSeconds(b))]),
);

// --- Measured here (docs/performance.md, docs/architecture.md): GPT-B guided on 2 CPU threads ---
const cpuSecondsPerImage = { batch1: 7.1, batch4: 4.2 };

// --- Measured here: bytes per D1 row (python3 bench/d1-row-bytes.py) ---
const d1Bytes = { grant: 95.8, job16: 4316.4, job1: 796.8 };

/** Loads of the generation target for jobs of `count` images in chunks of `chunk`. */
function generation(imagesPerSecond: number, count: number, chunk: number, pollsPerJob: number) {
  const jobs = imagesPerSecond / count;
  const chunksPerJob = Math.ceil(count / chunk);
  // D1 statements per job (workers/api/src/lib/generations): count active + insert on submit; per chunk
  // a claim, one ownership grant per token set and per image, a chunk record (the last one completes).
  const statementsPerJob = 2 + chunksPerJob * 2 + 2 * count + pollsPerJob;
  const writesPerJob = 1 + chunksPerJob * 2 + 2 * count;
  const bytesPerJob = 2 * count * d1Bytes.grant + (count === 1 ? d1Bytes.job1 : d1Bytes.job16);
  const d1BytesPerDay = jobs * bytesPerJob * 86_400;
  return {
    jobs_per_s: round(jobs),
    queue_messages_per_s: round(jobs * chunksPerJob),
    queue_share_of_limit: round((jobs * chunksPerJob) / LIMITS.queueMessagesPerSecond),
    d1_statements_per_s: Math.round(jobs * statementsPerJob),
    d1_writes_per_s: Math.round(jobs * writesPerJob),
    d1_share_of_single_db_at_1ms: round((jobs * statementsPerJob) / LIMITS.d1QueriesPerSecondAt1ms),
    d1_gb_per_day: round(d1BytesPerDay / 1e9),
    hours_to_10_gb: round(LIMITS.d1DatabaseBytes / (d1BytesPerDay / 24)),
    days_to_1_tb_account: round(LIMITS.d1AccountBytes / d1BytesPerDay),
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

// --- A small simulation: the GPU pool at the target, with dynamic batching per host ---
/** Seeded uniform random numbers (mulberry32), so the output is the same on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Chunks of `chunk` images arrive as a Poisson stream at `imagesPerSecond`; each of `hosts` hosts runs
 * one batch at a time of up to `maxBatch` images, taking the queued chunks that fit (the backend's
 * batcher), at `batchFloorSeconds / efficiency`. Chunks go to the host with the fewest queued images
 * (the Worker's pool). Reports chunk latency and the chunks in flight, which is the number of queue
 * consumer invocations waiting on the backend.
 */
function simulatePool(
  imagesPerSecond: number,
  chunk: number,
  hosts: number,
  maxBatch: number,
  seconds: number,
) {
  const rand = random(7);
  const chunkRate = imagesPerSecond / chunk;
  const queues: number[][] = Array.from({ length: hosts }, () => []); // arrival times of queued chunks
  type Batch = { end: number; arrivals: number[] };
  const running: (Batch | null)[] = new Array<Batch | null>(hosts).fill(null);
  const latencies: number[] = [];
  let t = 0;
  let nextArrival = -Math.log(1 - rand()) / chunkRate;
  let inFlightArea = 0;
  let inFlight = 0;
  let last = 0;
  let maxInFlight = 0;
  const startBatch = (h: number, now: number) => {
    const q = queues[h] as number[];
    const take = Math.max(1, Math.floor(maxBatch / chunk));
    const arrivals = q.splice(0, take);
    if (arrivals.length === 0) return;
    const end = now + batchFloorSeconds(arrivals.length * chunk) / efficiency;
    running[h] = { end, arrivals };
  };
  while (t < seconds) {
    const nextEnd = Math.min(...running.map((r) => (r === null ? Number.POSITIVE_INFINITY : r.end)));
    t = Math.min(nextArrival, nextEnd);
    inFlightArea += inFlight * (t - last);
    last = t;
    if (t === nextArrival) {
      let best = 0;
      for (let h = 1; h < hosts; h++) {
        const load = (q: number[], r: Batch | null) => q.length + (r === null ? 0 : r.arrivals.length);
        if (
          load(queues[h] as number[], running[h] ?? null) <
          load(queues[best] as number[], running[best] ?? null)
        )
          best = h;
      }
      (queues[best] as number[]).push(t);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (running[best] === null) startBatch(best, t);
      nextArrival = t - Math.log(1 - rand()) / chunkRate;
    } else {
      const h = running.findIndex((r) => r !== null && r.end === t);
      const done = running[h] as Batch;
      for (const a of done.arrivals) latencies.push(t - a);
      inFlight -= done.arrivals.length;
      running[h] = null;
      startBatch(h, t);
    }
  }
  latencies.sort((a, b) => a - b);
  const q = (p: number) => round(latencies[Math.floor(p * (latencies.length - 1))] ?? Number.NaN);
  return {
    hosts,
    chunk_images: chunk,
    chunks_done: latencies.length,
    images_per_s_served: round((latencies.length * chunk) / seconds),
    chunk_latency_p50_s: q(0.5),
    chunk_latency_p99_s: q(0.99),
    chunks_in_flight_mean: round(inFlightArea / t),
    chunks_in_flight_max: maxInFlight,
  };
}

const target = { cachedReadsPerSecond: 100_000, imagesPerSecond: 1_000, tenants: 10_000 };
const perHostAtBatch16 = (16 / batchFloorSeconds(16)) * efficiency;
const hostsNeeded = Math.ceil(target.imagesPerSecond / perHostAtBatch16);
const hosts = Number(args.hosts) > 0 ? Number(args.hosts) : Math.ceil(hostsNeeded * 1.25);
const seconds = Number(args.seconds);

console.log(
  JSON.stringify(
    {
      inputs: { efficiency, target },
      gpt_b: {
        gflop_per_image: round(flopsPerImage / 1e9),
        kv_gb_read_per_image: round(kvBytesPerImage / 1e9),
        h200_floor_images_per_s: gpuFloor,
        h200_compute_only_images_per_s: {
          fp32: Math.round(H200.fp32Flops / flopsPerImage),
          tf32: Math.round(H200.tf32DenseFlops / flopsPerImage),
          bf16: Math.round(H200.bf16DenseFlops / flopsPerImage),
        },
        planned_images_per_s_per_host_at_batch_16: round(perHostAtBatch16),
        hosts_for_target: hostsNeeded,
        cpu_2_threads_images_per_s: round(1 / cpuSecondsPerImage.batch4),
        cpu_2_thread_pods_for_target: Math.ceil(target.imagesPerSecond * cpuSecondsPerImage.batch4),
      },
      generation: {
        jobs_of_16_in_chunks_of_16: generation(target.imagesPerSecond, 16, 16, 6),
        jobs_of_1: generation(target.imagesPerSecond, 1, 1, 5),
      },
      cached_reads: {
        rate_limit_keys_needed_at_one_location: Math.ceil(
          target.cachedReadsPerSecond / LIMITS.rateLimitPerKeyPerLocation,
        ),
        // Warm path: no D1. A key is re-checked in D1 once per AUTH_CACHE_TTL_SECONDS in each colo that uses it.
        d1_key_checks_per_s_by_colos_per_key: Object.fromEntries(
          [1, 10, 50].map((colos) => [colos, Math.round((target.tenants * colos) / 30)]),
        ),
        // Ownership: a read of an object not yet granted in that colo asks D1 (a "no" is never cached).
        d1_grant_checks_per_s_by_first_in_colo_share: Object.fromEntries(
          [0.001, 0.01, 0.05].map((share) => [share, Math.round(target.cachedReadsPerSecond * share)]),
        ),
      },
      gpu_pool_simulation: [
        simulatePool(target.imagesPerSecond, 16, hosts, 16, seconds),
        simulatePool(target.imagesPerSecond, 4, hosts, 16, seconds),
        simulatePool(target.imagesPerSecond, 1, hosts, 16, seconds),
      ],
    },
    null,
    2,
  ),
);
