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

/** A curl command for a GET of `path`; the key stays a shell variable so it never shows on screen. */
export const curlFor = (/** @type {string} */ path) =>
  `curl -H "Authorization: Bearer $GIGATOK_API_KEY" ${location.origin}${path}`;

/**
 * The form control an API field names (`params.top_k` or `top_k` -> the control with name="top_k").
 * @param {string} field
 */
const fieldControl = (field) =>
  document.querySelector(`[name="${CSS.escape(field.replace(/^params\./, ''))}"]`);

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
  for (const field of [problem.field, ...(problem.errors ?? []).map((e) => e.field)]) {
    const control = field ? fieldControl(field) : null;
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
