// The one name of the backend's image preprocessing (EXIF orientation, alpha flattened onto white,
// short side resized to the model's size with Lanczos-3, centre crop: GigaTok's evaluation transform).
// It is part of every tokenize key (`tki_…`, ids.ts), so the same bytes tokenized under different
// preprocessing never share a cached token set: a change of what the backend does to an image is a new
// version here, and the old keys stop matching.

export const PREPROCESSING_VERSION = 'resize-short-center-crop/v1';
