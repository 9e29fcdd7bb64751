// The playground's calls to the public /v1 API: the Bearer key on every request, and every error answer
// read as RFC 9457 problem details (title, detail, code, field) so the page can show what went wrong.

/**
 * @typedef {object} Problem
 * @property {string} title
 * @property {number} status 0 when no HTTP answer came back
 * @property {string} [detail]
 * @property {string} [code]
 * @property {string} [field] JSON path of the offending request field, e.g. "top_k"
 * @property {number | string} [limit]
 * @property {{ field: string, detail: string }[]} [errors]
 */

/** A failed API call, carrying the problem details the API answered with (or one made up here). */
export class ProblemError extends Error {
  /** @param {Problem} problem */
  constructor(problem) {
    super(problem.detail ?? problem.title);
    this.name = 'ProblemError';
    /** @readonly */
    this.problem = problem;
  }
}

/**
 * Reads an error response. The API always answers application/problem+json (RFC 9457 section 3); anything
 * else (a proxy's HTML page, an empty body) is still turned into a problem so the page never goes blank.
 * @param {Response} response
 * @returns {Promise<Problem>}
 */
async function readProblem(response) {
  const text = await response.text();
  if ((response.headers.get('content-type') ?? '').includes('json')) {
    try {
      const body = JSON.parse(text);
      if (body && typeof body.title === 'string') {
        return { ...body, status: typeof body.status === 'number' ? body.status : response.status };
      }
    } catch {
      // fall through: not JSON after all
    }
  }
  return {
    title: `HTTP ${response.status} ${response.statusText}`.trim(),
    status: response.status,
    detail: text.trim().slice(0, 300) || 'the response carried no problem details',
  };
}

/**
 * A fetch for same-origin /v1 paths that sends `Authorization: Bearer <key>` (RFC 6750) and throws a
 * ProblemError for network failures and non-2xx answers.
 * @param {() => string} getKey
 */
export function createApi(getKey) {
  /**
   * @param {string} path
   * @param {RequestInit} [init]
   * @returns {Promise<Response>}
   */
  return async function api(path, init = {}) {
    const headers = new Headers(init.headers);
    const key = getKey();
    if (key) headers.set('authorization', `Bearer ${key}`);
    let response;
    try {
      response = await fetch(path, { ...init, headers });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ProblemError({
        title: 'Network error',
        status: 0,
        detail: `the API did not answer (${reason})`,
      });
    }
    if (!response.ok) throw new ProblemError(await readProblem(response));
    return response;
  };
}

/**
 * A problem for a failure that happened in the page itself (a bad number in a field, a failed decode).
 * @param {unknown} error
 * @returns {Problem}
 */
export function toProblem(error) {
  if (error instanceof ProblemError) return error.problem;
  return {
    title: 'Something went wrong in the page',
    status: 0,
    detail: error instanceof Error ? error.message : String(error),
  };
}

/**
 * POST /v1/tokenize with the image's bytes as the body. Resolves to the answer (for its X-Cache header)
 * and its token set.
 * @param {(path: string, init?: RequestInit) => Promise<Response>} api
 * @param {Blob} image
 * @param {string} model '' for the API's default model
 * @returns {Promise<{ response: Response, tokens: { id: string, codebook_size: number, tokens: number[][] } }>}
 */
export async function tokenizeImage(api, image, model) {
  const response = await api(`/v1/tokenize${model ? `?model=${encodeURIComponent(model)}` : ''}`, {
    method: 'POST',
    headers: { 'content-type': image.type || 'application/octet-stream' },
    body: image,
  });
  return { response, tokens: await response.json() };
}
