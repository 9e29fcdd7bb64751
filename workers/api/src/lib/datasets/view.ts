// The public Dataset object (GET /v1/datasets/{id}, list entries): ISO timestamps, snake_case, progress.
import { AUGMENTATION_VIEWS, type Dataset } from '@gigatok/shared';
import type { DatasetRecord } from './store.ts';

export function datasetView(dataset: DatasetRecord): Dataset {
  return {
    id: dataset.id,
    object: 'dataset',
    name: dataset.name,
    model: dataset.model,
    augmentation: dataset.augmentation,
    preprocessing: dataset.preprocessing,
    labels: dataset.labels,
    status: dataset.status,
    rows_per_image: AUGMENTATION_VIEWS[dataset.augmentation],
    classes: dataset.classes,
    progress: { images_done: dataset.imagesDone, images_total: dataset.imagesTotal },
    error: dataset.error,
    created_at: new Date(dataset.createdAt).toISOString(),
    completed_at: dataset.completedAt === null ? null : new Date(dataset.completedAt).toISOString(),
  };
}
