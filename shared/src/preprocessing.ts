// How the backend turns an image file into the model's input, named once for both sides. Two modes share
// the official geometry (ADM's center_crop_arr: box halving, Pillow-exact bicubic per axis, floored
// centre crop; Normalize(0.5, 0.5)) and differ only in how the file is read:
// - `official`: as GigaTok's data pipeline reads it (Pillow's `Image.open().convert('RGB')`): EXIF
//   orientation ignored, alpha dropped (not composited), embedded colour profiles ignored. Tokens equal
//   the official code's for the same file. The default.
// - `normalized`: EXIF orientation applied, alpha composited onto white, colour profile converted to
//   sRGB; then the same geometry. What a person sees in a viewer, at the price of differing from the
//   official tokens on such files.
// The descriptor of a mode is part of every tokenize key (`tki_…`, ids.ts): a change of what the backend
// does to an image is a new PREPROCESSING_VERSION, and the old keys stop matching.
import type { Augmentation } from './augmentation.ts';
import { enumField } from './schema-fields.ts';

export const PREPROCESSING_VERSION = 'adm-center-crop-pil-bicubic/v2';

export const PREPROCESSING_MODES = ['official', 'normalized'] as const;
export type PreprocessingMode = (typeof PREPROCESSING_MODES)[number];
export const DEFAULT_PREPROCESSING: PreprocessingMode = 'official';

export const PreprocessingModeSchema = enumField('preprocessing', PREPROCESSING_MODES).meta({
  id: 'PreprocessingMode',
  description:
    "How the image file is read before the official resize and centre crop: 'official' (default) reads it " +
    "as GigaTok's code does (EXIF orientation ignored, alpha dropped, colour profile ignored), so tokens " +
    "equal the official pipeline's; 'normalized' applies EXIF orientation, composites alpha onto white and " +
    'converts the colour profile to sRGB.',
});

/** The string a tokenize key records for `mode`, e.g. "adm-center-crop-pil-bicubic/v2+official". */
export function preprocessingDescriptor(mode: PreprocessingMode): string {
  return `${PREPROCESSING_VERSION}+${mode}`;
}

/**
 * The descriptor a tokenize key records for `mode` under `augment`: plain preprocessingDescriptor for
 * 'none' (so a dataset image shares its key with POST /v1/tokenize of the same file), else suffixed.
 */
export function augmentedDescriptor(mode: PreprocessingMode, augment: Augmentation): string {
  return augment === 'none' ? preprocessingDescriptor(mode) : `${preprocessingDescriptor(mode)}+${augment}`;
}
