// The single-graph sampling loop (generate.onnx: every AR step, the KV cache and the sampler inside one
// session.run) against the per-step loop the server runs (ar_step.onnx, step by step), through
// gpu-backend/scripts/bench-graph.ts's compareGraph.
import { compareGraph } from '../gpu-backend/scripts/bench-graph.ts';
import type { Device } from '../gpu-backend/src/runtime/device.ts';
import type { Headline, Section } from './report.ts';
import { fmt, ratio } from './stats.ts';

export interface GraphOptions {
  modelDir: string;
  device: Device;
  threads: number;
  batches: number[];
  seconds: number;
  log: (line: string) => void;
}

export async function runGraph(o: GraphOptions): Promise<Section | undefined> {
  const result = await compareGraph(o.modelDir, {
    batches: o.batches,
    seconds: o.seconds,
    session: { device: o.device, cudaDeviceId: 0, intraOpThreads: o.threads, interOpThreads: 1 },
  });
  if (result === undefined) {
    o.log('no generate.onnx (or no ar_step.onnx) in the model directory: graph section skipped');
    return undefined;
  }
  for (const r of result.rows) {
    o.log(
      `graph batch ${r.batch}: per-step ${fmt(r.perStep.imagesPerSecond)} images/s, ` +
        `single graph ${fmt(r.graph.imagesPerSecond)} images/s`,
    );
  }
  const headlines: Headline[] = result.rows.map((r) => ({
    figure: `generate.onnx vs per-step, batch ${r.batch}`,
    value: ratio(r.graph.imagesPerSecond / r.perStep.imagesPerSecond),
    detail: `${fmt(r.graph.imagesPerSecond)} vs ${fmt(r.perStep.imagesPerSecond)} images/s (one session.run per batch)`,
  }));
  return {
    id: 'graph',
    title: 'Single-graph sampling (generate.onnx) vs the per-step loop (ar_step.onnx)',
    tables: [
      {
        title: `${result.modelId}, ${result.file}, in process`,
        columns: [
          'batch',
          'per-step images/s',
          'graph images/s',
          'speed-up',
          'CPU ms/image per-step',
          'CPU ms/image graph',
          'ms/image outside run, per-step',
          'ms/image outside run, graph',
        ],
        rows: result.rows.map((r) => [
          String(r.batch),
          fmt(r.perStep.imagesPerSecond),
          fmt(r.graph.imagesPerSecond),
          ratio(r.graph.imagesPerSecond / r.perStep.imagesPerSecond),
          fmt(r.perStep.cpuMsPerImage),
          fmt(r.graph.cpuMsPerImage),
          fmt(r.perStep.outsideMsPerImage),
          fmt(r.graph.outsideMsPerImage),
        ]),
      },
    ],
    notes: [
      'The per-step loop copies logits and the whole KV cache (present_keys, present_values) into JavaScript ' +
        'memory at every step and feeds it back; generate.onnx keeps the cache inside onnxruntime (a Loop ' +
        'whose state grows by Concat) and returns only the tokens. Both draw identical tokens ' +
        '(gpu-backend/test/generate-graph.test.ts).',
      'CPU ms/image counts every thread of this process (user + system), steadier than wall time on a shared machine.',
    ],
    headlines,
    data: result,
  };
}
