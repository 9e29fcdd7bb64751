// The playground's entry module: the API key (from the local #key= link or typed in), the model list
// that fills the forms, the copy buttons, and the tokenize, generate and variations sections wired to the API.
import { createApi } from './api.js';
import { byId, clearProblem, el, input, select, showProblem } from './dom.js';
import { setupGenerate } from './generate.js';
import { setupTokenize } from './tokenize.js';
import { setupVariations } from './variations.js';

/**
 * @typedef {{ id: string, image_size: number, tokens_per_image: number, codebook_size: number,
 *   num_classes: number, class_labels: string[], sampling_defaults: { cfg_scale: number,
 *   cfg_schedule: string, temperature: number, top_k: number, top_p: number } }} Model
 */

const KEY_STORAGE = 'gigatok.playground.api-key';

/** @param {string} host */
const isLoopback = (host) => host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);

/**
 * The key to start with. `npm start` prints the playground URL as http://127.0.0.1:8787/#key=gtk_live_…:
 * a fragment is never sent to a server (RFC 3986 section 3.5), and it is taken only on a loopback host,
 * so a link to a deployed playground cannot plant someone else's key. The fragment is removed from the
 * address bar at once; the key then lives in this tab's sessionStorage.
 */
function initialKey() {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get('key')?.trim();
  if (fromLink !== undefined) {
    history.replaceState(null, '', location.pathname + location.search);
    if (fromLink && isLoopback(location.hostname)) sessionStorage.setItem(KEY_STORAGE, fromLink);
  }
  return sessionStorage.getItem(KEY_STORAGE) ?? '';
}

const keyInput = input('api-key');
keyInput.value = initialKey();
const api = createApi(() => keyInput.value.trim());

// ---------------------------------------------------------------------------------------------------------
// Models: GET /v1/models fills the model list, the class labels and the sampling defaults.

/** @type {Model[]} */
let models = [];
const modelSelect = select('model');
const classSelects = [select('class'), select('variations-class')];
const modelInfo = byId('model-info');

function showModel() {
  const model = models.find((m) => m.id === modelSelect.value);
  if (!model) return;
  modelInfo.textContent =
    `${model.image_size}×${model.image_size} px images, ${model.tokens_per_image} tokens each, ` +
    `codebook ${model.codebook_size}, ${model.num_classes} classes`;
  // Keep the chosen class across a model reload; the first time, preselect class 0 (unconditional is
  // the API's default, but a class shows what the model learned).
  for (const classSelect of classSelects) {
    const previous = classSelect.options.length > 0 ? classSelect.value : '0';
    classSelect.replaceChildren(
      el('option', { value: '' }, ['unconditional']),
      ...model.class_labels.map((label, i) => el('option', { value: String(i) }, [label])),
    );
    classSelect.value = [...classSelect.options].some((o) => o.value === previous) ? previous : '0';
  }
  const d = model.sampling_defaults;
  input('cfg-scale').value = String(d.cfg_scale);
  select('cfg-schedule').value = d.cfg_schedule;
  input('temperature').value = String(d.temperature);
  input('top-k').value = String(d.top_k);
  input('top-k').max = String(model.codebook_size);
  input('top-p').value = String(d.top_p);
  variations.showModel(model);
}

async function loadModels() {
  const panel = byId('key-error');
  clearProblem(panel);
  modelInfo.textContent = 'Loading models …';
  try {
    const body = await (await api('/v1/models')).json();
    models = body.data;
    const previous = modelSelect.value;
    modelSelect.replaceChildren(...models.map((m) => el('option', { value: m.id }, [m.id])));
    modelSelect.disabled = models.length === 0;
    if (models.some((m) => m.id === previous)) modelSelect.value = previous;
    modelInfo.textContent = models.length === 0 ? 'The backend has no model loaded yet.' : '';
    showModel();
  } catch (error) {
    modelInfo.textContent = '';
    showProblem(panel, error);
  }
}

byId('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  void loadModels();
});

byId('key-toggle').addEventListener('click', (event) => {
  const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
  const show = keyInput.type === 'password';
  keyInput.type = show ? 'text' : 'password';
  button.setAttribute('aria-pressed', String(show));
  button.textContent = show ? 'Hide' : 'Show';
});

modelSelect.addEventListener('change', showModel);

// ---------------------------------------------------------------------------------------------------------
// Copy buttons, also those the sections add later: data-copy names the element whose text is copied.

document.addEventListener('click', async (event) => {
  const button = /** @type {Element} */ (event.target).closest?.('button.copy');
  if (!(button instanceof HTMLButtonElement)) return;
  const source = byId(button.dataset.copy ?? '');
  try {
    await navigator.clipboard.writeText(source.textContent ?? '');
    button.textContent = 'Copied';
  } catch {
    // No clipboard access (permissions, an insecure origin): select the text for Ctrl+C / long-press.
    getSelection()?.selectAllChildren(source);
    button.textContent = 'Selected: press Ctrl+C';
  }
  setTimeout(() => {
    button.textContent = 'Copy curl';
  }, 2000);
});

// A file dropped beside a drop zone would otherwise make the browser leave the page to show it.
for (const type of ['dragover', 'drop']) window.addEventListener(type, (event) => event.preventDefault());

const variations = setupVariations(api, () => modelSelect.value);
setupTokenize(api, () => modelSelect.value);
setupGenerate(
  api,
  () => modelSelect.value,
  () => models,
);
if (keyInput.value) void loadModels();
