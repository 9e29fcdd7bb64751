// What POST /v1/encode may do to each image beyond the official preprocessing, and how urgent the work
// is; named once for the Worker and the backend. Augmentations are the official code extractor's
// (extract_codes_c2i.py; docs/model-contract.md): `flip` gives [image, horizontal mirror], `ten_crop`
// torchvision's TenCrop of a centre crop at 1.1x (four corners, centre, then the same of the mirror).
import { enumField } from './schema-fields.ts';

export const AUGMENTATIONS = ['none', 'flip', 'ten_crop'] as const;
export type Augmentation = (typeof AUGMENTATIONS)[number];

/** Token rows per input image, in the order the extractor stacks them (its `num_aug`). */
export const AUGMENTATION_VIEWS: Readonly<Record<Augmentation, number>> = {
  none: 1,
  flip: 2,
  ten_crop: 10,
};

export const AugmentationSchema = enumField('augment', AUGMENTATIONS).meta({
  id: 'Augmentation',
  description:
    "Views encoded per image, image-major (tokens[i * A + a]): 'none' (default, A = 1); 'flip' (A = 2: " +
    "the image, then its horizontal mirror); 'ten_crop' (A = 10: torchvision's TenCrop of the centre crop " +
    'at int(1.1 x size): top-left, top-right, bottom-left, bottom-right, centre, then the same five of the ' +
    'mirrored crop), as the official code extractor makes them.',
});

export const ENCODE_PRIORITIES = ['interactive', 'background'] as const;
export type EncodePriority = (typeof ENCODE_PRIORITIES)[number];

export const EncodePrioritySchema = enumField('priority', ENCODE_PRIORITIES).meta({
  id: 'EncodePriority',
  description:
    "'interactive' (default) runs first; 'background' (dataset work) runs in the gaps, at the largest batch, " +
    'and waits while interactive work is queued.',
});
