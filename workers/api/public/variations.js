// The "Variations" section: a source image (a file, a drop or a sample) is tokenized (POST /v1/tokenize),
// then one POST /v1/variations per chosen keep value, all with the same class, count and seed, each job
// followed to its end. The row for keep k shows the source beside images that keep its first k tokens.
import { ProblemError, tokenizeImage } from './api.js';
import { byId, clearProblem, curlFor, el, input, select, setupImagePicker, showProblem } from './dom.js';
import { imageObjectUrl, waitForJob } from './jobs.js';

/**
 * @typedef {import('./jobs.js').Job} Job
 * @typedef {{ tokens_per_image: number }} VariationModel
 * @typedef {{ image: Blob, name: string, url: string }} Source
 */

/** The POST waits this long for the job (RFC 7240 Prefer), so a quick one answers with its result at once. */
const PREFER_WAIT = 'wait=30';

/**
 * Keep values to start with: 0, T/4, T/2 and 3T/4, which show layout fixed by more and more of the first
 * tokens. The API takes at most T - 1 (keeping all T leaves nothing to sample).
 * @param {number} tokensPerImage
 */
function defaultKeeps(tokensPerImage) {
  const quarters = [0, 1, 2, 3].map((q) =>
    Math.min(Math.round((q * tokensPerImage) / 4), tokensPerImage - 1),
  );
  return [...new Set(quarters)];
}

/** A seed for a request that names none: one for every row, so the rows differ only in what they keep. */
const randomSeed = () => crypto.getRandomValues(new Uint32Array(1))[0] ?? 0;

/**
 * @param {(path: string, init?: RequestInit) => Promise<Response>} api
 * @param {() => string} modelId the selected model ('' before the list has loaded: the API's default)
 */
export function setupVariations(api, modelId) {
  const form = /** @type {HTMLFormElement} */ (byId('variations-form'));
  const submitButton = /** @type {HTMLButtonElement} */ (byId('make-variations'));
  const panel = byId('variations-error');
  const status = byId('variations-status');
  const rows = byId('variation-rows');
  const slider = input('keep');
  const sliderValue = byId('keep-value');
  const keepList = byId('keep-list');
  const classSelect = select('variations-class');
  const countInput = input('variations-count');
  const seedInput = input('variations-seed');
  /** @type {Source | null} */
  let source = null;
  let tokensPerImage = 0;
  /** @type {number[]} */
  let keeps = [];
  /** Only the newest submission may write to the page. */
  let run = 0;
  /** Object URLs of the variations shown, revoked when the next submission replaces them. */
  let urls = /** @type {string[]} */ ([]);

  function renderKeeps() {
    keepList.replaceChildren(
      ...keeps.map((keep) => {
        const remove = el(
          'button',
          { type: 'button', class: 'chip-remove', 'aria-label': `Remove keep ${keep}` },
          ['×'],
        );
        remove.addEventListener('click', () => {
          keeps = keeps.filter((k) => k !== keep);
          renderKeeps();
          // Focus stays in the list (or goes back to the slider) instead of falling to the page's start.
          const next = keepList.querySelector('button') ?? slider;
          /** @type {HTMLElement} */ (next).focus();
        });
        return el('li', { class: 'chip', 'data-keep': String(keep) }, [`keep ${keep}`, remove]);
      }),
    );
  }

  /** @param {number} keep */
  function addKeep(keep) {
    if (!keeps.includes(keep)) keeps = [...keeps, keep].sort((a, b) => a - b);
    renderKeeps();
  }

  /**
   * Called with the selected model: the slider runs over 0..T-1 and the keep values start again at the
   * defaults when T changes.
   * @param {VariationModel} model
   */
  function showModel(model) {
    const T = model.tokens_per_image;
    slider.max = String(T - 1);
    byId('keep-help').textContent =
      `0 to ${T - 1} of the ${T} tokens (all ${T} would leave nothing to sample: that is the reconstruction)`;
    if (T !== tokensPerImage) {
      tokensPerImage = T;
      slider.value = String(Math.round(T / 2));
      keeps = defaultKeeps(T);
      renderKeeps();
    }
    sliderValue.textContent = slider.value;
  }

  slider.addEventListener('input', () => {
    sliderValue.textContent = slider.value;
  });
  byId('add-keep').addEventListener('click', () => addKeep(Number(slider.value)));

  setupImagePicker({
    fileInput: input('variations-file'),
    dropZone: byId('variations-drop-zone'),
    sampleList: byId('variations-samples'),
    sampleSuffix: ' as the source',
    onImage: (image, name, sample) => {
      clearProblem(panel);
      if (source) URL.revokeObjectURL(source.url);
      source = { image, name, url: URL.createObjectURL(image) };
      const preview = /** @type {HTMLImageElement} */ (byId('variations-source-image'));
      preview.src = source.url;
      preview.alt = `Source image: ${name}`;
      byId('variations-source-caption').textContent = `Source: ${name}`;
      byId('variations-source').hidden = false;
      // A sample digit preselects its own class, so that every row samples the digit it shows.
      const option = [...classSelect.options].find((o) => sample !== null && o.textContent === sample);
      if (option) classSelect.value = option.value;
    },
    onError: (error) => showProblem(panel, error),
  });

  /** The request fields every row shares; keep is added per row. */
  function sharedFields() {
    /** @type {Record<string, unknown>} */
    const body = {};
    if (modelId()) body.model = modelId();
    body.class_id = classSelect.value === '' ? null : Number(classSelect.value);
    for (const [control, name] of /** @type {const} */ ([
      [countInput, 'count'],
      [seedInput, 'seed'],
    ])) {
      // type=number reports text it cannot read as badInput (and an empty value): say so rather than
      // silently sending the default.
      if (control.validity.badInput) {
        throw new ProblemError({
          title: 'Invalid parameter',
          status: 0,
          detail: `'${name}' must be a number`,
          field: name,
        });
      }
      if (control.value !== '') body[name] = Number(control.value);
    }
    if (body.seed === undefined) body.seed = randomSeed();
    return body;
  }

  /**
   * One row: submits the variation for `keep`, follows the job and shows its images beside the source.
   * Resolves to true when the row's images are shown.
   * @param {Source} from
   * @param {Record<string, unknown>} body
   * @param {number} mine
   */
  async function showRow(from, body, mine) {
    const keep = /** @type {number} */ (body.keep);
    const headingId = `variations-keep-${keep}`;
    const curlId = `variations-curl-${keep}`;
    const rowStatus = el('p', { class: 'help row-status' }, ['submitting …']);
    const images = el('ul', { class: 'variation-images', 'aria-labelledby': headingId }, [
      el('li', { class: 'source' }, [
        el('figure', {}, [
          el('img', { src: from.url, alt: `Source image: ${from.name}`, width: '32', height: '32' }),
          el('figcaption', {}, ['source']),
        ]),
      ]),
    ]);
    const row = el('li', { class: 'variation-row', 'data-keep': String(keep) }, [
      el('h3', { id: headingId }, [`Keep ${keep} of ${tokensPerImage} tokens`]),
      rowStatus,
      images,
      el('details', { class: 'row-curl' }, [
        el('summary', {}, [`curl for keep ${keep}`]),
        el('div', { class: 'curl' }, [
          el('pre', {}, [
            el('code', { id: curlId }, [
              curlFor('/v1/variations', { body, headers: { Prefer: PREFER_WAIT } }),
            ]),
          ]),
          el('button', { type: 'button', class: 'secondary copy', 'data-copy': curlId }, ['Copy curl']),
        ]),
      ]),
    ]);
    rows.append(row);

    try {
      /** @type {Job} */
      const submitted = await (
        await api('/v1/variations', {
          method: 'POST',
          headers: { 'content-type': 'application/json', prefer: PREFER_WAIT },
          body: JSON.stringify(body),
        })
      ).json();
      if (mine !== run) return false;
      row.dataset.job = submitted.id;
      const slots = submitted.params.class_ids.map(() => {
        const slot = el('li', {}, [el('div', { class: 'pending' }, ['waiting'])]);
        images.append(slot);
        return slot;
      });
      rowStatus.textContent = `${submitted.id} · ${submitted.status}`;
      const job = await waitForJob(api, submitted, {
        isCurrent: () => mine === run,
        onUpdate: (update) => {
          rowStatus.textContent = `${update.id} · ${update.status}`;
        },
      });
      if (job === null) return false;
      if (job.status !== 'succeeded') {
        throw new ProblemError(job.error ?? { title: `The variation job was ${job.status}`, status: 0 });
      }
      await Promise.all(
        (job.result?.images ?? []).map(async (image) => {
          const slot = slots[image.index];
          if (!slot || !image.image_url) return;
          const url = await imageObjectUrl(api, image.image_url);
          if (mine !== run) {
            URL.revokeObjectURL(url);
            return;
          }
          urls.push(url);
          slot.replaceChildren(
            el('figure', {}, [
              el('img', {
                src: url,
                alt: `Variation ${image.index + 1} of ${from.name}, keeping ${keep} of ${tokensPerImage} tokens`,
                width: '32',
                height: '32',
                'data-token-id': image.token_id,
              }),
              el('figcaption', {}, [`variation ${image.index + 1}`]),
            ]),
          );
        }),
      );
      rowStatus.textContent = `${job.id} · ${job.status}${job.cached ? ' · from cache' : ''}`;
      return true;
    } catch (error) {
      if (mine !== run) return false;
      rowStatus.textContent = 'failed: see the problem above';
      showProblem(panel, error);
      return false;
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const mine = ++run;
    clearProblem(panel);
    for (const url of urls) URL.revokeObjectURL(url);
    urls = [];
    rows.replaceChildren();
    submitButton.disabled = true;
    const started = performance.now();
    try {
      const from = source;
      if (!from) {
        throw new ProblemError({
          title: 'No source image',
          status: 0,
          detail: 'choose an image or a sample digit first',
        });
      }
      if (keeps.length === 0) {
        throw new ProblemError({
          title: 'No keep values',
          status: 0,
          detail: "add at least one keep value with the slider's Add value button",
          field: 'keep',
        });
      }
      const shared = sharedFields();
      status.textContent = `Tokenizing ${from.name} …`;
      const { tokens } = await tokenizeImage(api, from.image, modelId());
      if (mine !== run) return;
      if (tokensPerImage === 0) tokensPerImage = tokens.tokens[0]?.length ?? 0;
      status.textContent = `${from.name} is ${tokens.id}: ${keeps.length} variation jobs, seed ${shared.seed} …`;
      const shown = await Promise.all(
        keeps.map((keep) => showRow(from, { ...shared, token_id: tokens.id, keep }, mine)),
      );
      if (mine !== run) return;
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      status.textContent =
        `${from.name} (${tokens.id}), seed ${shared.seed}: ` +
        `${shown.filter(Boolean).length} of ${keeps.length} rows in ${seconds} s.`;
    } catch (error) {
      if (mine !== run) return;
      status.textContent = '';
      showProblem(panel, error);
    } finally {
      if (mine === run) submitButton.disabled = false;
    }
  });

  return { showModel };
}
