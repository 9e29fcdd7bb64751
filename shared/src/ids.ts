// Ids: content ids (a prefix + base32 of a SHA-256 of canonical JSON, so equal content has one id),
// random ids, API keys and their stored hashes, and Standard Webhooks secrets.
import { base32Encode } from './base32.ts';
import { randomBytes, sha256, sha256Hex, toBase64 } from './bytes.ts';
import { canonicalJSON } from './canonical-json.ts';

/** Bytes of the hash (or random bytes) behind an id: 20 bytes = 160 bits = 32 base32 characters. */
const ID_BYTES = 20;
const B32 = '[a-z2-7]{32}';

/** Model ids: lowercase, digits, dot, underscore, hyphen; 1 to 64 characters, starting with a letter or digit. */
export const MODEL_ID_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const TOKEN_ID_RE = new RegExp(`^tok_${B32}$`);
export const TOKENIZE_KEY_RE = new RegExp(`^tki_${B32}$`);
export const IMAGE_ID_RE = new RegExp(`^img_${B32}$`);
export const GENERATION_KEY_RE = new RegExp(`^gpk_${B32}$`);
export const JOB_ID_RE = new RegExp(`^job_${B32}$`);
export const API_KEY_ID_RE = new RegExp(`^key_${B32}$`);
export const MESSAGE_ID_RE = new RegExp(`^msg_${B32}$`);
export const DATASET_ID_RE = new RegExp(`^ds_${B32}$`);
/** The secret API key a client sends (`Authorization: Bearer gtk_live_...`). */
export const API_KEY_RE = new RegExp(`^gtk_live_${B32}$`);
/** Standard Webhooks secret: `whsec_` + base64 of 24 random bytes (32 characters, no padding needed). */
export const WEBHOOK_SECRET_RE = /^whsec_[A-Za-z0-9+/]{32}$/;
export const SHA256_HEX_RE = /^[0-9a-f]{64}$/;

/** Domain-separation tags: a hash made for one kind of id can never equal one made for another. */
export const ID_DOMAINS = {
  tokens: 'gigatok/tokens/v1',
  tokenize: 'gigatok/tokenize/v1',
  image: 'gigatok/image/v1',
  generation: 'gigatok/generation/v1',
} as const;

/** `prefix_` + base32 of the first 20 bytes of sha256(domain + "\n" + canonicalJSON(value)). */
export async function contentId(prefix: string, domain: string, value: unknown): Promise<string> {
  const digest = await sha256(`${domain}\n${canonicalJSON(value)}`);
  return `${prefix}_${base32Encode(digest.subarray(0, ID_BYTES))}`;
}

export interface TokenSetIdInput {
  model: string;
  codebook_size: number;
  tokens_per_image: number;
  /** One row per image. */
  tokens: readonly (readonly number[])[];
}

/** `tok_...`: the id of a token set, from its decoded values (the same whether it came as JSON or GTOK). */
export function tokenSetId(input: TokenSetIdInput): Promise<string> {
  const { model, codebook_size, tokens_per_image, tokens } = input;
  return contentId('tok', ID_DOMAINS.tokens, { model, codebook_size, tokens_per_image, tokens });
}

export interface TokenizeKeyInput {
  model: string;
  /** The preprocessing descriptor (preprocessingDescriptor), e.g. "adm-center-crop-pil-bicubic/v2+official". */
  preprocessing: string;
  /** Lowercase hex SHA-256 of the raw image bytes. */
  image_sha256: string;
}

/** `tki_...`: the cache key of a tokenize call (same image bytes, model and preprocessing, same tokens). */
export function tokenizeKey(input: TokenizeKeyInput): Promise<string> {
  const { model, preprocessing, image_sha256 } = input;
  if (!SHA256_HEX_RE.test(image_sha256))
    throw new TypeError("'image_sha256' must be 64 lowercase hex digits");
  return contentId('tki', ID_DOMAINS.tokenize, { model, preprocessing, image_sha256 });
}

/** `img_...`: the id of a decoded image: a token set rendered in one format. */
export function imageId(input: { token_id: string; format: string }): Promise<string> {
  const { token_id, format } = input;
  return contentId('img', ID_DOMAINS.image, { token_id, format });
}

/**
 * `gpk_...`: the key of a generation's fully resolved parameters (defaults applied, seed chosen).
 * Pass everything that determines the result, the model included; the same key means the same tokens.
 */
export function generationParamsKey(params: Record<string, unknown>): Promise<string> {
  return contentId('gpk', ID_DOMAINS.generation, params);
}

/** `prefix_` + 32 base32 characters of 20 random bytes. */
export function randomId(prefix: string): string {
  return `${prefix}_${base32Encode(randomBytes(ID_BYTES))}`;
}

export const newJobId = (): string => randomId('job');
export const newDatasetId = (): string => randomId('ds');
export const newApiKeyId = (): string => randomId('key');
/** `msg_...`: a webhook message id (the `webhook-id` header; the same across retries of one message). */
export const newMessageId = (): string => randomId('msg');

/** A new secret API key, `gtk_live_` + 32 base32 characters (160 random bits). Show it once; store its hash. */
export function generateApiKey(): string {
  return `gtk_live_${base32Encode(randomBytes(ID_BYTES))}`;
}

/**
 * What the database stores for an API key: hex SHA-256. A plain hash (no salt, no stretching) is enough
 * because the key is 160 random bits, not a password; it also lets a lookup go by hash directly.
 */
export function hashApiKey(apiKey: string): Promise<string> {
  return sha256Hex(apiKey);
}

/** A new Standard Webhooks signing secret: `whsec_` + base64 of 24 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${toBase64(randomBytes(24))}`;
}
