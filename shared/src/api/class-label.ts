// Class references in generation requests: a class id, or one of the model's class labels (its manifest's
// class_labels, e.g. the ImageNet-1k names), resolved to the id the job runs with.
import { ApiError, describeValue, ErrorCode } from '../errors.ts';
import type { ManifestSummary } from '../model-manifest.ts';

/** What a request may name a class by: an id, a label, or null (unconditional). */
export type ClassRef = number | string | null;

/** Near matches an unknown label's error names at most. */
export const MAX_NEAR_LABELS = 5;

interface LabelIndex {
  /** Label -> ids, exact spelling. */
  exact: Map<string, number[]>;
  /** Lower-cased label -> ids. */
  folded: Map<string, number[]>;
  folds: string[];
}

// Keyed by the labels array itself: the Worker keeps one model summary per isolate, so each model's
// labels are indexed once rather than on every request.
const indexes = new WeakMap<readonly string[], LabelIndex>();

function push(map: Map<string, number[]>, key: string, id: number): void {
  const ids = map.get(key);
  if (ids) ids.push(id);
  else map.set(key, [id]);
}

function indexOf(labels: readonly string[]): LabelIndex {
  let index = indexes.get(labels);
  if (!index) {
    index = { exact: new Map(), folded: new Map(), folds: labels.map((l) => l.toLowerCase()) };
    for (const [id, label] of labels.entries()) {
      push(index.exact, label, id);
      push(index.folded, index.folds[id]!, id);
    }
    indexes.set(labels, index);
  }
  return index;
}

/** Levenshtein distance (insert, delete, substitute; two rows). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let row = new Array<number>(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const substitute = prev[j - 1]! + (a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1);
      row[j] = Math.min(substitute, prev[j]! + 1, row[j - 1]! + 1);
    }
    [prev, row] = [row, prev];
  }
  return prev[b.length]!;
}

const words = (text: string) => text.split(/[^\p{L}\p{N}]+/u).filter(Boolean);

/**
 * Up to `max` labels close to `query`, closest first (ties by id): by edit distance relative to the longer
 * string, plus the share of the query's words the label holds, plus containment either way; labels with
 * nothing in common are left out. A few milliseconds for 1000 labels.
 */
export function nearLabels(
  query: string,
  labels: readonly string[],
  max = MAX_NEAR_LABELS,
): { id: number; label: string }[] {
  const q = query.toLowerCase().trim().slice(0, 64);
  if (q === '') return [];
  const qWords = new Set(words(q));
  const scored: { id: number; score: number }[] = [];
  for (const [id, fold] of indexOf(labels).folds.entries()) {
    const labelWords = new Set(words(fold));
    let shared = 0;
    for (const w of qWords) if (labelWords.has(w)) shared++;
    const overlap = qWords.size > 0 ? shared / qWords.size : 0;
    const contains = fold.includes(q) || q.includes(fold);
    const longer = Math.max(q.length, fold.length);
    // The length difference bounds the edit distance from below: skip labels that cannot be close.
    if (overlap === 0 && !contains && Math.abs(q.length - fold.length) > longer / 2) continue;
    const similarity = 1 - editDistance(q, fold) / longer;
    if (similarity < 0.5 && overlap === 0 && !contains) continue;
    scored.push({ id, score: similarity + 0.5 * overlap + (contains ? 0.5 : 0) });
  }
  scored.sort((a, b) => b.score - a.score || a.id - b.id);
  return scored.slice(0, max).map(({ id }) => ({ id, label: labels[id]! }));
}

const listed = (ids: readonly number[], labels: readonly string[]) =>
  ids.map((id) => `${id} ${JSON.stringify(labels[id])}`).join(', ');

function invalid(field: string, detail: string): never {
  throw new ApiError(ErrorCode.invalid_parameter, detail, { field, errors: [{ field, detail }] });
}

/**
 * The class id `ref` names in `model`: ids and null pass through (range checks are
 * checkSamplingForModel's); a label matches exactly, else case-insensitively. A label two classes share
 * under the matching rule is refused listing both ids, as is a label no class has, naming near matches.
 * Throws ApiError invalid_parameter naming `field`.
 */
export function resolveClassRef(
  field: string,
  ref: ClassRef,
  model: Pick<ManifestSummary, 'id' | 'class_labels'>,
): number | null {
  if (typeof ref !== 'string') return ref;
  const labels = model.class_labels;
  const index = indexOf(labels);
  const ids = index.exact.get(ref) ?? index.folded.get(ref.toLowerCase()) ?? [];
  if (ids.length === 1) return ids[0]!;
  if (ids.length > 1) {
    invalid(
      field,
      `'${field}' ${describeValue(ref)} matches ${ids.length} classes of model '${model.id}': ` +
        `${listed(ids, labels)}; give the class id`,
    );
  }
  const near = nearLabels(ref, labels);
  const hints = [
    near.length > 0
      ? `near matches: ${listed(
          near.map((n) => n.id),
          labels,
        )}`
      : `GET /v1/models lists its ${labels.length} labels`,
  ];
  if (/^\s*\d+\s*$/.test(ref)) hints.push(`to name class ${ref.trim()} by id, send it as a JSON number`);
  invalid(
    field,
    `'${field}' names no class label of model '${model.id}': ${describeValue(ref)}; ${hints.join('; ')}`,
  );
}

/** resolveClassRef over a request's `class_id`: one reference, or one per image (fields `class_id.i`). */
export function resolveClassRefs(
  ref: ClassRef | readonly ClassRef[] | undefined,
  model: Pick<ManifestSummary, 'id' | 'class_labels'>,
): number | null | (number | null)[] | undefined {
  if (ref === undefined) return undefined;
  if (Array.isArray(ref)) return ref.map((r: ClassRef, i) => resolveClassRef(`class_id.${i}`, r, model));
  return resolveClassRef('class_id', ref as ClassRef, model);
}
