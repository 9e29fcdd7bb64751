import { describe, expect, it } from 'vitest';
import imagenetText from '../../../gpu-backend/model/gigatok_model/data/imagenet1k_labels.txt?raw';
import { ApiError } from '../errors.ts';
import { nearLabels, resolveClassRef, resolveClassRefs } from './class-label.ts';

// The labels the model tooling writes into a 1000-class manifest.
const IMAGENET = imagenetText.split('\n').slice(0, -1);
const model = { id: 'gigatok-bl-gpt-xxl', class_labels: IMAGENET };

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected an ApiError');
}

describe('resolveClassRef', () => {
  it('reads the 1000 ImageNet labels the exporter ships', () => {
    expect(IMAGENET).toHaveLength(1000);
    expect([IMAGENET[0], IMAGENET[207], IMAGENET[999]]).toEqual([
      'tench',
      'golden retriever',
      'toilet tissue',
    ]);
  });

  it('passes ids and null through and resolves a label exactly or case-insensitively', () => {
    expect(resolveClassRef('class_id', 207, model)).toBe(207);
    expect(resolveClassRef('class_id', null, model)).toBeNull();
    expect(resolveClassRef('class_id', 'golden retriever', model)).toBe(207);
    expect(resolveClassRef('class_id', 'Golden Retriever', model)).toBe(207);
    expect(resolveClassRef('class_id', 'GOLDEN RETRIEVER', model)).toBe(207);
    expect(resolveClassRef('class_id', 'tench', model)).toBe(0);
    expect(resolveClassRef('class_id', 'toilet tissue', model)).toBe(999);
  });

  it('takes the exact spelling of labels that differ only in case, and refuses the ambiguous one listing both ids', () => {
    expect(resolveClassRef('class_id', 'Cardigan', model)).toBe(264);
    expect(resolveClassRef('class_id', 'cardigan', model)).toBe(474);
    const err = errorOf(() => resolveClassRef('class_id', 'CARDIGAN', model));
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_parameter');
    expect(err.field).toBe('class_id');
    expect(err.message).toBe(
      `'class_id' "CARDIGAN" matches 2 classes of model 'gigatok-bl-gpt-xxl': 264 "Cardigan", 474 "cardigan"; give the class id`,
    );
  });

  it('refuses a label two classes share whatever its case', () => {
    const dup = { id: 'm', class_labels: ['crane', 'heron', 'crane'] };
    const err = errorOf(() => resolveClassRef('class_id.1', 'crane', dup));
    expect(err.field).toBe('class_id.1');
    expect(err.message).toContain('matches 2 classes');
    expect(err.message).toContain('0 "crane", 2 "crane"');
    expect(resolveClassRef('class_id', 'Heron', dup)).toBe(1);
  });

  it('refuses an unknown label naming the field and up to five near matches, closest first', () => {
    const err = errorOf(() => resolveClassRef('class_id', 'golden retreiver', model));
    expect(err.status).toBe(400);
    expect(err.field).toBe('class_id');
    expect(err.errors).toEqual([{ field: 'class_id', detail: err.message }]);
    expect(err.message).toMatch(
      /^'class_id' names no class label of model 'gigatok-bl-gpt-xxl': "golden retreiver"; near matches: 207 "golden retriever", /,
    );
    expect(nearLabels('golden retreiver', IMAGENET)[0]).toEqual({ id: 207, label: 'golden retriever' });
    const retrievers = nearLabels('retriever', IMAGENET).map((m) => m.label);
    expect(retrievers).toHaveLength(5);
    for (const label of retrievers) expect(label).toContain('retriever');
    expect(nearLabels('tabby cat', IMAGENET).map((m) => m.id)).toContain(281);
  });

  it('says so when no label is close, and points a number sent as a string at the id form', () => {
    const far = errorOf(() => resolveClassRef('class_id', 'qqqqqqqqqqqqqqqqqqqqqqqq', model));
    expect(far.message).toContain('GET /v1/models lists its 1000 labels');
    const digits = errorOf(() => resolveClassRef('class_id', '207', model));
    expect(digits.message).toContain('to name class 207 by id, send it as a JSON number');
  });

  it('names the entry of a per-image list that fails', () => {
    expect(resolveClassRefs(['tench', 3, null, 'Goldfish'], model)).toEqual([0, 3, null, 1]);
    expect(resolveClassRefs(undefined, model)).toBeUndefined();
    expect(errorOf(() => resolveClassRefs([1, 'no such thing'], model)).field).toBe('class_id.1');
  });
});
