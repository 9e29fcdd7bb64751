// Generation jobs as the page follows them (POST /v1/generations and POST /v1/variations both answer
// one): polling GET /v1/generations/{id} until the job ends, and fetching its images with the key.

/** @typedef {import('./api.js').Problem} Problem */
/**
 * @typedef {{ index: number, class_id: number | null, token_id: string, image_url: string | null }} JobImage
 * @typedef {{ id: string, status: string, model: string, cached: boolean, error: Problem | null,
 *   params: { seed: number, class_ids: (number | null)[], variation?: { source_token_id: string, keep: number } },
 *   result: { images: JobImage[] } | null }} Job
 */

const POLL_MS = 400;
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

/** @param {Job} job */
export const hasEnded = (job) => TERMINAL.has(job.status);

/**
 * Polls the job every POLL_MS until it ends. Resolves to the ended job, or to null as soon as
 * `isCurrent()` turns false (the page started something newer).
 * @param {(path: string, init?: RequestInit) => Promise<Response>} api
 * @param {Job} job
 * @param {{ isCurrent: () => boolean, onUpdate?: (job: Job) => void }} options
 * @returns {Promise<Job | null>}
 */
export async function waitForJob(api, job, { isCurrent, onUpdate }) {
  let current = job;
  while (!hasEnded(current)) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (!isCurrent()) return null;
    current = await (await api(`/v1/generations/${current.id}`)).json();
    onUpdate?.(current);
  }
  return current;
}

/**
 * An object URL for an image the API serves to key holders only (an <img src> cannot send
 * Authorization). The caller revokes it when the image leaves the page.
 * @param {(path: string, init?: RequestInit) => Promise<Response>} api
 * @param {string} imageUrl
 */
export async function imageObjectUrl(api, imageUrl) {
  return URL.createObjectURL(await (await api(imageUrl)).blob());
}
