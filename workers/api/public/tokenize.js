// The "Tokenize an image" section: an uploaded, dropped or sample image goes through POST /v1/tokenize,
// its token set through POST /v1/detokenize (token_id), and the page shows both images, the tokens as a
// heat map, the token set id with a curl to fetch it again, and where each answer came from (X-Cache).
import { byId, clearProblem, curlFor, input, showProblem } from './dom.js';
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
      const model = modelId();
      const tokenized = await api(`/v1/tokenize${model ? `?model=${encodeURIComponent(model)}` : ''}`, {
        method: 'POST',
        headers: { 'content-type': image.type || 'application/octet-stream' },
        body: image,
      });
      const tokens = await tokenized.json();
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

  const fileInput = input('image-file');
  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    if (file) void tokenize(file, file.name);
    fileInput.value = ''; // so that choosing the same file again fires `change` again
  });

  const dropZone = byId('drop-zone');
  for (const type of ['dragenter', 'dragover']) {
    dropZone.addEventListener(type, (event) => {
      event.preventDefault();
      dropZone.classList.add('dragging');
    });
  }
  dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dragging'));
  dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropZone.classList.remove('dragging');
    const file = event.dataTransfer?.files[0];
    if (file) void tokenize(file, file.name);
  });
  // A file dropped beside the zone would otherwise make the browser leave the page to show it.
  for (const type of ['dragover', 'drop']) window.addEventListener(type, (event) => event.preventDefault());

  for (const button of document.querySelectorAll('button.sample')) {
    button.addEventListener('click', async () => {
      const path = /** @type {HTMLElement} */ (button).dataset.sample ?? '';
      try {
        const response = await fetch(path);
        if (!response.ok) throw new Error(`the sample ${path} could not be loaded (HTTP ${response.status})`);
        await tokenize(await response.blob(), path.split('/').pop() ?? path);
      } catch (error) {
        showProblem(panel, error);
      }
    });
  }
}
