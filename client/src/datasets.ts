// The /v1/datasets calls of the client: create a dataset, add images (an ImageFolder tar or files with
// labels), run it, follow it, cancel it, and download its outputs (GTOK codes, the official .npy tar,
// the manifest) with their ETags.

import {
  type CreateDatasetRequest,
  type Dataset,
  type DatasetList,
  DatasetListSchema,
  type DatasetManifest,
  DatasetManifestSchema,
  DatasetSchema,
  type DatasetUploadResult,
  DatasetUploadResultSchema,
} from '@gigatok/shared';
import type { RequestOptions } from './client.ts';
import type { HttpResponse, RequestSpec } from './http.ts';
import { readJson } from './responses.ts';

export type { CreateDatasetRequest, Dataset, DatasetList, DatasetManifest, DatasetUploadResult };

/** Images of one upload: an ImageFolder tar, or files each with its class. */
export type DatasetImages =
  | { tar: Uint8Array }
  | { files: readonly { name: string; bytes: Uint8Array; label?: string | undefined }[] };

export type DatasetOutput = 'codes' | 'tar' | 'manifest';

export interface DownloadedOutput {
  bytes: Uint8Array;
  etag: string | null;
}

export interface WaitDatasetOptions extends RequestOptions {
  /** Between polls (default 1000 ms). */
  intervalMs?: number | undefined;
  onProgress?: ((dataset: Dataset) => void) | undefined;
}

const OUTPUT_PATHS: Record<DatasetOutput, string> = {
  codes: 'codes',
  tar: 'codes.tar',
  manifest: 'manifest',
};
const FINAL = new Set(['completed', 'failed', 'canceled']);

export class DatasetsApi {
  readonly #request: (spec: RequestSpec) => Promise<HttpResponse>;

  constructor(request: (spec: RequestSpec) => Promise<HttpResponse>) {
    this.#request = request;
  }

  #path(id: string, rest = ''): string {
    return `/v1/datasets/${encodeURIComponent(id)}${rest}`;
  }

  /** POST /v1/datasets. Not retried after a network error (a retry could create a second dataset). */
  async create(params: CreateDatasetRequest, options: RequestOptions = {}): Promise<Dataset> {
    const response = await this.#request({
      method: 'POST',
      path: '/v1/datasets',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(params),
      retry: 'refused-only',
      ...options,
    });
    return readJson(response, DatasetSchema);
  }

  /** POST /v1/datasets/{id}/images. Safe to retry: a name already in the dataset is skipped. */
  async addImages(
    id: string,
    images: DatasetImages,
    options: RequestOptions = {},
  ): Promise<DatasetUploadResult> {
    let body: Uint8Array<ArrayBuffer> | FormData;
    let contentType: string | undefined;
    if ('tar' in images) {
      body = images.tar.slice();
      contentType = 'application/x-tar';
    } else {
      const form = new FormData();
      const labelled = images.files.some((f) => f.label !== undefined);
      for (const file of images.files) {
        form.append('image', new Blob([file.bytes.slice()]), file.name);
        if (labelled) {
          if (file.label === undefined)
            throw new TypeError(`file '${file.name}' has no label while others do`);
          form.append('label', file.label);
        }
      }
      body = form;
    }
    const response = await this.#request({
      method: 'POST',
      path: this.#path(id, '/images'),
      headers: { 'content-type': contentType },
      body,
      retry: 'idempotent',
      ...options,
    });
    return readJson(response, DatasetUploadResultSchema);
  }

  /** POST /v1/datasets/{id}/run: idempotent (a started or completed dataset is returned as it is). */
  async run(id: string, options: RequestOptions = {}): Promise<Dataset> {
    const response = await this.#request({
      method: 'POST',
      path: this.#path(id, '/run'),
      retry: 'idempotent',
      ...options,
    });
    return readJson(response, DatasetSchema);
  }

  async get(id: string, options: RequestOptions = {}): Promise<Dataset> {
    const response = await this.#request({
      method: 'GET',
      path: this.#path(id),
      retry: 'idempotent',
      ...options,
    });
    return readJson(response, DatasetSchema);
  }

  async list(options: RequestOptions & { limit?: number; cursor?: string } = {}): Promise<DatasetList> {
    const response = await this.#request({
      method: 'GET',
      path: '/v1/datasets',
      query: { limit: options.limit, cursor: options.cursor },
      retry: 'idempotent',
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
    return readJson(response, DatasetListSchema);
  }

  /** POST /v1/datasets/{id}/cancel; a dataset neither queued nor running is a 409 `not_cancelable`. */
  async cancel(id: string, options: RequestOptions = {}): Promise<Dataset> {
    const response = await this.#request({
      method: 'POST',
      path: this.#path(id, '/cancel'),
      retry: 'refused-only',
      ...options,
    });
    return readJson(response, DatasetSchema);
  }

  /** Polls until the dataset is completed, failed or canceled, and returns it. */
  async wait(id: string, options: WaitDatasetOptions = {}): Promise<Dataset> {
    const { intervalMs = 1000, onProgress, ...request } = options;
    for (;;) {
      const dataset = await this.get(id, request);
      onProgress?.(dataset);
      if (FINAL.has(dataset.status)) return dataset;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
      request.signal?.throwIfAborted();
    }
  }

  /** GET one output of a completed dataset: the GTOK codes, the official tar or the manifest bytes. */
  async download(id: string, output: DatasetOutput, options: RequestOptions = {}): Promise<DownloadedOutput> {
    const response = await this.#request({
      method: 'GET',
      path: this.#path(id, `/${OUTPUT_PATHS[output]}`),
      retry: 'idempotent',
      ...options,
    });
    return { bytes: response.body, etag: response.headers.get('etag') };
  }

  /** The manifest, parsed and checked against the shared schema. */
  async manifest(id: string, options: RequestOptions = {}): Promise<DatasetManifest> {
    const response = await this.#request({
      method: 'GET',
      path: this.#path(id, '/manifest'),
      retry: 'idempotent',
      ...options,
    });
    return readJson(response, DatasetManifestSchema);
  }
}
