// Prometheus metrics (prom-client) named after Triton Inference Server's `nv_inference_*` family, so
// existing Triton dashboards read them; labelled by model and graph (encoder, decoder, ar_step, generate,
// embed; `generate` is the sampling-loop graph, whole-run or chunked).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type GraphName = 'encoder' | 'decoder' | 'ar_step' | 'generate' | 'embed';

export class Metrics {
  readonly registry = new Registry();
  readonly requestSuccess: Counter<'model' | 'graph'>;
  readonly requestFailure: Counter<'model' | 'graph' | 'reason'>;
  /** Inferences = items (images, or sequence rows for ar_step) processed. */
  readonly inferenceCount: Counter<'model' | 'graph'>;
  /** Executions = runs of the graph (batches). */
  readonly execCount: Counter<'model' | 'graph'>;
  readonly queueDurationUs: Counter<'model' | 'graph'>;
  readonly computeInferDurationUs: Counter<'model' | 'graph'>;
  readonly requestDurationUs: Counter<'model' | 'graph'>;
  readonly batchSize: Histogram<'model' | 'graph'>;
  readonly pending: Gauge<'model' | 'graph'>;
  /** Items that joined a batch already running (chunked generation: at a chunk boundary). */
  readonly joined: Counter<'model' | 'graph'>;
  readonly httpRequests: Counter<'route' | 'status'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const labels = ['model', 'graph'] as const;
    this.requestSuccess = new Counter({
      name: 'nv_inference_request_success',
      help: 'Number of successful inference requests (one per API request and graph)',
      labelNames: labels,
      registers,
    });
    this.requestFailure = new Counter({
      name: 'nv_inference_request_failure',
      help: 'Number of failed inference requests, by reason (problem code)',
      labelNames: [...labels, 'reason'],
      registers,
    });
    this.inferenceCount = new Counter({
      name: 'nv_inference_count',
      help: 'Number of inferences performed (batch items; ar_step counts rows per step, generate rows per run, guidance rows included)',
      labelNames: labels,
      registers,
    });
    this.execCount = new Counter({
      name: 'nv_inference_exec_count',
      help: 'Number of graph executions (batches) performed',
      labelNames: labels,
      registers,
    });
    this.queueDurationUs = new Counter({
      name: 'nv_inference_queue_duration_us',
      help: 'Cumulative time items waited in the batching queue, in microseconds',
      labelNames: labels,
      registers,
    });
    this.computeInferDurationUs = new Counter({
      name: 'nv_inference_compute_infer_duration_us',
      help: 'Cumulative graph execution time, in microseconds',
      labelNames: labels,
      registers,
    });
    this.requestDurationUs = new Counter({
      name: 'nv_inference_request_duration_us',
      help: 'Cumulative end-to-end inference request time, in microseconds',
      labelNames: labels,
      registers,
    });
    this.batchSize = new Histogram({
      name: 'gigatok_inference_batch_size',
      help: 'Items per graph execution',
      labelNames: labels,
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.pending = new Gauge({
      name: 'nv_inference_pending_request_count',
      help: 'Items waiting in the batching queue',
      labelNames: labels,
      registers,
    });
    this.joined = new Counter({
      name: 'gigatok_inference_joined_count',
      help: 'Items that joined a batch already running, between its runs (chunked generation); the rest started a batch',
      labelNames: labels,
      registers,
    });
    this.httpRequests = new Counter({
      name: 'gigatok_http_requests_total',
      help: 'HTTP requests answered, by route and status',
      labelNames: ['route', 'status'],
      registers,
    });
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  recordExec(model: string, graph: GraphName, size: number, computeUs: number): void {
    const l = { model, graph };
    this.execCount.inc(l);
    this.inferenceCount.inc(l, size);
    this.computeInferDurationUs.inc(l, Math.round(computeUs));
    this.batchSize.observe(l, size);
  }

  recordQueue(model: string, graph: GraphName, queueUs: number): void {
    this.queueDurationUs.inc({ model, graph }, Math.round(queueUs));
  }

  recordJoin(model: string, graph: GraphName, items: number): void {
    this.joined.inc({ model, graph }, items);
  }

  recordRequest(model: string, graph: GraphName, durationUs: number, failureReason?: string): void {
    if (failureReason === undefined) this.requestSuccess.inc({ model, graph });
    else this.requestFailure.inc({ model, graph, reason: failureReason });
    this.requestDurationUs.inc({ model, graph }, Math.round(durationUs));
  }
}
