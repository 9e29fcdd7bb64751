// The "Generate" section: POST /v1/generations with the form's parameters, then the job polled until it
// ends (jobs.js), showing its status live and each image as soon as its bytes arrive.
import { ProblemError } from './api.js';
import { byId, clearProblem, curlFor, el, input, select, showProblem } from './dom.js';
import { hasEnded, imageObjectUrl, waitForJob } from './jobs.js';

/**
 * @typedef {{ id: string, class_labels: string[] }} ModelLabels
 * @typedef {import('./jobs.js').Job} Job
 */

/** Number fields: element id -> request field. Empty fields are left out: the model's defaults apply. */
const NUMBER_FIELDS = [
  ['count', 'count'],
  ['seed', 'seed'],
  ['cfg-scale', 'cfg_scale'],
  ['temperature', 'temperature'],
  ['top-k', 'top_k'],
  ['top-p', 'top_p'],
];

/**
 * @param {(path: string, init?: RequestInit) => Promise<Response>} api
 * @param {() => string} modelId
 * @param {() => ModelLabels[]} models
 */
export function setupGenerate(api, modelId, models) {
  const form = /** @type {HTMLFormElement} */ (byId('generate-form'));
  const generateButton = /** @type {HTMLButtonElement} */ (byId('generate'));
  const cancelButton = /** @type {HTMLButtonElement} */ (byId('cancel'));
  const panel = byId('generate-error');
  const status = byId('job-status');
  const gallery = byId('generated');
  const jobLink = /** @type {HTMLAnchorElement} */ (byId('job-json'));
  /** @type {Job | null} */
  let current = null;
  let run = 0;
  let urls = /** @type {string[]} */ ([]);

  /** @param {string | null} modelName @param {number | null} classId */
  const labelOf = (modelName, classId) =>
    classId === null
      ? 'unconditional'
      : (models().find((m) => m.id === modelName)?.class_labels[classId] ?? String(classId));

  function request() {
    /** @type {Record<string, unknown>} */
    const body = {};
    if (modelId()) body.model = modelId();
    const classValue = select('class').value;
    body.class_id = classValue === '' ? null : Number(classValue);
    body.cfg_schedule = select('cfg-schedule').value;
    for (const [id, name] of NUMBER_FIELDS) {
      const control = input(/** @type {string} */ (id));
      // type=number reports text it cannot read as badInput (and an empty value): say so rather than
      // silently sending the default.
      if (control.validity.badInput) {
        throw new ProblemError({
          title: 'Invalid parameter',
          status: 0,
          detail: `'${name}' must be a number`,
          field: /** @type {string} */ (name),
        });
      }
      if (control.value !== '') body[/** @type {string} */ (name)] = Number(control.value);
    }
    return body;
  }

  /** @param {Job} job @param {number} startedAt */
  function showJob(job, startedAt) {
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
    const state = hasEnded(job) ? `${job.status} after ${seconds} s` : `${job.status} … ${seconds} s`;
    status.textContent = `Job ${job.id}: ${state} · seed ${job.params.seed}${job.cached ? ' · from cache' : ''}`;
    // The job JSON needs the key, so the link opens the copy the page last read rather than the API URL.
    if (jobLink.href.startsWith('blob:')) URL.revokeObjectURL(jobLink.href);
    jobLink.href = URL.createObjectURL(
      new Blob([JSON.stringify(job, null, 2)], { type: 'application/json' }),
    );
    byId('job-curl').textContent = curlFor(`/v1/generations/${job.id}`);
    byId('job-links').hidden = false;
  }

  /** @param {Job} job one list item per requested image, "waiting" until its bytes arrive */
  function placeholders(job) {
    gallery.replaceChildren(
      ...job.params.class_ids.map((classId, i) =>
        el('li', { 'data-index': String(i) }, [
          el('figure', {}, [
            el('div', { class: 'pending' }, ['waiting']),
            el('figcaption', {}, [`${i + 1} · ${labelOf(job.model, classId)}`]),
          ]),
        ]),
      ),
    );
  }

  /**
   * Fetches each image with the key (an <img src> cannot send Authorization) and shows it the moment it
   * arrives, in whatever order the answers come.
   * @param {Job} job
   * @param {number} mine
   */
  async function showImages(job, mine) {
    await Promise.all(
      (job.result?.images ?? []).map(async (image) => {
        const slot = gallery.querySelector(`li[data-index="${image.index}"] figure`);
        if (!slot || !image.image_url) return;
        const url = await imageObjectUrl(api, image.image_url);
        if (mine !== run) {
          URL.revokeObjectURL(url);
          return;
        }
        urls.push(url);
        const label = labelOf(job.model, image.class_id);
        slot.replaceChildren(
          el('img', {
            src: url,
            alt: `Generated image ${image.index + 1}, class ${label}`,
            width: '128',
            height: '128',
          }),
          el('figcaption', {}, [`${image.index + 1} · ${label} `, el('code', {}, [image.token_id])]),
        );
      }),
    );
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const mine = ++run;
    clearProblem(panel);
    for (const url of urls) URL.revokeObjectURL(url);
    urls = [];
    current = null;
    gallery.replaceChildren();
    byId('job-links').hidden = true;
    status.textContent = 'Submitting …';
    generateButton.disabled = true;
    const startedAt = performance.now();
    try {
      const body = JSON.stringify(request());
      const headers = { 'content-type': 'application/json' };
      /** @type {Job} */
      const submitted = await (await api('/v1/generations', { method: 'POST', headers, body })).json();
      current = submitted;
      placeholders(submitted);
      cancelButton.hidden = false;
      showJob(submitted, startedAt);
      const job = await waitForJob(api, submitted, {
        isCurrent: () => mine === run,
        onUpdate: (update) => {
          current = update;
          showJob(update, startedAt);
        },
      });
      if (job === null) return;
      cancelButton.hidden = true;
      if (job.status === 'succeeded') await showImages(job, mine);
      else if (job.status === 'failed')
        showProblem(panel, new ProblemError(job.error ?? { title: 'Failed', status: 0 }));
      else gallery.replaceChildren();
    } catch (error) {
      if (mine !== run) return;
      if (current === null) status.textContent = '';
      cancelButton.hidden = true;
      showProblem(panel, error);
    } finally {
      if (mine === run) generateButton.disabled = false;
    }
  });

  cancelButton.addEventListener('click', async () => {
    if (!current) return;
    try {
      await api(`/v1/generations/${current.id}/cancel`, { method: 'POST' });
    } catch (error) {
      showProblem(panel, error);
    }
  });
}
