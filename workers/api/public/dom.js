// Small DOM helpers shared by the playground's modules, and the one way errors reach the page: RFC 9457
// problem details rendered as text (never as HTML) next to the action that failed.
import { toProblem } from './api.js';

/** @param {string} id */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
}
/** @param {string} id */
export const input = (id) => /** @type {HTMLInputElement} */ (byId(id));
/** @param {string} id */
export const select = (id) => /** @type {HTMLSelectElement} */ (byId(id));

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string | null)[]} [children]
 */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) if (child !== null) node.append(child);
  return node;
}

/**
 * A curl command for a call to `path`: a GET, or with `body` a POST of it as JSON (single-quoted for a POSIX
 * shell). The key stays a shell variable so it never shows on screen.
 * @param {string} path
 * @param {{ body?: unknown, headers?: Record<string, string> }} [options] `headers`: extra request headers
 */
export function curlFor(path, { body, headers = {} } = {}) {
  const parts = ['curl -H "Authorization: Bearer $GIGATOK_API_KEY"'];
  for (const [name, value] of Object.entries(headers)) parts.push(`-H "${name}: ${value}"`);
  if (body !== undefined) {
    parts.push('-H "Content-Type: application/json"');
    parts.push(`-d '${JSON.stringify(body).replaceAll("'", "'\\''")}'`);
  }
  parts.push(`${location.origin}${path}`);
  // One line for a plain GET; a line per part (shell continuations) once there is more to read.
  return parts.length <= 2 ? parts.join(' ') : parts.join(' \\\n  ');
}

/**
 * The form control an API field names (`params.top_k` or `top_k` -> the control with name="top_k"), looked
 * up in the section that shows the problem (several sections have a `count` or a `seed`).
 * @param {ParentNode} scope
 * @param {string} field
 */
const fieldControl = (scope, field) =>
  scope.querySelector(`[name="${CSS.escape(field.replace(/^params\./, ''))}"]`);

/**
 * Shows a problem: title, detail, then status, code and field; any further field errors as a list. The
 * controls it names are marked aria-invalid and point at the panel (aria-errormessage).
 * @param {HTMLElement} panel
 * @param {unknown} error
 */
export function showProblem(panel, error) {
  const problem = toProblem(error);
  const meta = [
    problem.status ? `HTTP ${problem.status}` : '',
    problem.code ? `code ${problem.code}` : '',
    problem.field ? `field ${problem.field}` : '',
  ].filter(Boolean);
  const others = (problem.errors ?? []).filter((e) => e.detail !== problem.detail);
  const list = others.map((e) => el('li', {}, [`${e.field}: ${e.detail}`]));
  const parts = [
    el('p', { class: 'problem-title' }, [problem.title]),
    problem.detail ? el('p', { class: 'problem-detail' }, [problem.detail]) : null,
    meta.length ? el('p', { class: 'problem-meta' }, [meta.join(' · ')]) : null,
    list.length ? el('ul', {}, list) : null,
  ];
  panel.replaceChildren(...parts.filter((part) => part !== null));
  panel.hidden = false;
  const scope = panel.closest('section') ?? document;
  for (const field of [problem.field, ...(problem.errors ?? []).map((e) => e.field)]) {
    const control = field ? fieldControl(scope, field) : null;
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      control.setAttribute('aria-errormessage', panel.id);
    }
  }
}

/** @param {HTMLElement} panel */
export function clearProblem(panel) {
  panel.hidden = true;
  panel.replaceChildren();
  for (const control of document.querySelectorAll(`[aria-errormessage="${panel.id}"]`)) {
    control.removeAttribute('aria-invalid');
    control.removeAttribute('aria-errormessage');
  }
}

/** The sample images offered beside each image picker: 32x32 coloured digits (public/samples/). */
export const SAMPLES = [0, 2, 4, 5, 7, 9].map((digit) => ({
  label: String(digit),
  path: `/samples/digit-${digit}.png`,
}));

/**
 * @typedef {object} ImagePicker
 * @property {HTMLInputElement} fileInput
 * @property {HTMLElement} dropZone the area around the file input that takes a dropped file
 * @property {HTMLElement} sampleList filled with one button per sample
 * @property {(image: Blob, name: string, sample: string | null) => void | Promise<void>} onImage
 *   `sample`: the sample's label (its digit), null for a file of the user's
 * @property {(error: unknown) => void} onError a sample that could not be loaded
 * @property {string} [sampleSuffix] added to each sample button's name where the page has two pickers
 */

/**
 * Wires an image picker: a file chosen or dropped, or a sample clicked, ends in `onImage`.
 * @param {ImagePicker} picker
 */
export function setupImagePicker({ fileInput, dropZone, sampleList, onImage, onError, sampleSuffix = '' }) {
  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    if (file) void onImage(file, file.name, null);
    fileInput.value = ''; // so that choosing the same file again fires `change` again
  });

  for (const type of ['dragenter', 'dragover']) {
    dropZone.addEventListener(type, (event) => {
      event.preventDefault();
      dropZone.classList.add('dragging');
    });
  }
  dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dragging'));
  dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropZone.classList.remove('dragging');
    const file = event.dataTransfer?.files[0];
    if (file) void onImage(file, file.name, null);
  });

  sampleList.replaceChildren(
    ...SAMPLES.map((sample) => {
      const button = el(
        'button',
        { type: 'button', class: 'sample', 'aria-label': `Sample digit ${sample.label}${sampleSuffix}` },
        [el('img', { src: sample.path, alt: '', width: '32', height: '32' })],
      );
      button.addEventListener('click', async () => {
        try {
          const response = await fetch(sample.path);
          if (!response.ok) {
            throw new Error(`the sample ${sample.path} could not be loaded (HTTP ${response.status})`);
          }
          await onImage(await response.blob(), sample.path.split('/').pop() ?? sample.path, sample.label);
        } catch (error) {
          onError(error);
        }
      });
      return button;
    }),
  );
}
