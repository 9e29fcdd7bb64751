// The "Tokenize an image" section: an uploaded, dropped or sample image goes through POST /v1/tokenize,
// its token set through POST /v1/detokenize (token_id), and the page shows both images, the tokens as a
// heat map, the token set id with a curl to fetch it again, and where each answer came from (X-Cache).
import { tokenizeImage } from './api.js';
import { byId, clearProblem, curlFor, input, setupImagePicker, showProblem } from './dom.js';
import { cellAt, drawHeatmap } from './heatmap.js';

/**
 * @param {(path: string, init?: RequestInit) => Promise<Response>} api
 * @param {() => string} modelId the selected model ('' before the list has loaded: the API's default)
 */
export function setupTokenize(api, modelId) {
  const panel = byId('tokenize-error');
  const status = byId('tokenize-status');
  const result = byId('tokenize-result');
  const canvas = /** @type {HTMLCanvasElement} */ (byId('heatmap'));
  /** Object URLs of the shown images, revoked when the next result replaces them. */
  let urls = /** @type {string[]} */ ([]);
  /** Only the newest request may write to the page (an older one can answer later). */
  let run = 0;

  /** @param {HTMLElement} badge @param {string | null} value */
  const setBadge = (badge, value) => {
    badge.textContent = value ?? 'n/a';
    badge.className = value === 'hit' || value === 'miss' ? `badge ${value}` : 'badge';
  };

  /**
   * @param {Blob} image
   * @param {string} name
   */
  async function tokenize(image, name) {
    const mine = ++run;
    clearProblem(panel);
    status.textContent = `Tokenizing ${name} …`;
    const started = performance.now();
    try {
      const { response: tokenized, tokens } = await tokenizeImage(api, image, modelId());
      if (mine === run) status.textContent = `Decoding ${tokens.id} …`;
      const decoded = await api('/v1/detokenize', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token_id: tokens.id }),
      });
      const reconstruction = await decoded.blob();
      if (mine !== run) return;

      for (const url of urls) URL.revokeObjectURL(url);
      urls = [URL.createObjectURL(image), URL.createObjectURL(reconstruction)];
      /** @type {HTMLImageElement} */ (byId('original')).src = urls[0] ?? '';
      /** @type {HTMLImageElement} */ (byId('reconstruction')).src = urls[1] ?? '';

      /** @type {number[]} */
      const row = tokens.tokens[0];
      const max = tokens.codebook_size - 1;
      drawHeatmap(canvas, row, tokens.codebook_size);
      canvas.setAttribute(
        'aria-label',
        `Heat map of ${row.length} tokens (0 to ${max}); values listed below`,
      );
      byId('heatmap-caption').textContent =
        `${row.length} tokens · codebook size ${tokens.codebook_size} · row by row, coarse to fine`;
      byId('legend-max').textContent = String(max);
      byId('heatmap-readout').textContent = '';
      byId('token-values').textContent = row.join(' ');
      byId('token-id').textContent = tokens.id;
      byId('tokens-curl').textContent = curlFor(`/v1/tokens/${tokens.id}`);
      setBadge(byId('cache-tokenize'), tokenized.headers.get('x-cache'));
      setBadge(byId('cache-detokenize'), decoded.headers.get('x-cache'));
      result.hidden = false;
      status.textContent = `${name}: ${row.length} tokens, ${Math.round(performance.now() - started)} ms.`;
    } catch (error) {
      if (mine !== run) return;
      status.textContent = '';
      result.hidden = true;
      showProblem(panel, error);
    }
  }

  // Pointer readout of the cell under the cursor; keyboard and screen-reader users get the value list.
  canvas.addEventListener('pointermove', (event) => {
    const values = (byId('token-values').textContent ?? '').split(' ');
    const index = cellAt(canvas, event.offsetX, event.offsetY, values.length);
    byId('heatmap-readout').textContent = index >= 0 ? `token ${index}: ${values[index]}` : '';
  });

  setupImagePicker({
    fileInput: input('image-file'),
    dropZone: byId('drop-zone'),
    sampleList: byId('tokenize-samples'),
    onImage: (image, name) => tokenize(image, name),
    onError: (error) => showProblem(panel, error),
  });
}
