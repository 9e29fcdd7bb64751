// The playground page (workers/api/public) in a real Chromium against the real local stack: the key from
// the local link, tokenize + reconstruction + heat map, generations shown as they finish, variations of a
// sample per keep value, problem details for bad input and bad keys, keyboard focus and contrast, and the
// phone layout. Screenshots go to test-output/playground/; with GIGATOK_UPDATE_SCREENSHOTS=1 the three in
// docs/playground/ are refreshed.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { GenerationSchema, TokensResponseSchema } from '@gigatok/shared';
import type { Browser, Locator, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-stack.ts';
import { api, newTenant, postJson, stack } from '../lib/api.ts';
import {
  contrastFailures,
  launchChromium,
  openPage,
  overflowingElements,
  tabThrough,
  type WatchedPage,
} from '../lib/browser.ts';
import { colouredDigit, psnr, rawToPng, toRgb } from '../lib/images.ts';

const OUT_DIR = path.join(repoRoot, 'test-output', 'playground');
const DOCS_DIR = path.join(repoRoot, 'docs', 'playground');
/** Screenshots committed to docs/ stay small (the brief: under 200 KB each). */
const MAX_DOC_SCREENSHOT_BYTES = 200 * 1024;

interface Model {
  id: string;
  image_size: number;
  tokens_per_image: number;
  codebook_size: number;
  class_labels: string[];
}

let browser: Browser;
let desktop: WatchedPage;
let tenant: { key: string };
let model: Model;
/** A digit in colours no other suite uses, so its first tokenize is a cache miss. */
let fixturePng: Buffer;

/** A screenshot of the whole page, or of `part` of it. */
async function screenshot(page: Page, name: string, docsName?: string, part?: Locator): Promise<void> {
  mkdirSync(OUT_DIR, { recursive: true });
  const png = part
    ? await part.screenshot({ animations: 'disabled' })
    : await page.screenshot({ fullPage: true, animations: 'disabled' });
  writeFileSync(path.join(OUT_DIR, `${name}.png`), png);
  if (docsName && process.env.GIGATOK_UPDATE_SCREENSHOTS === '1') {
    // A 256-colour palette keeps a UI screenshot readable at a fraction of the size.
    const small = await sharp(png)
      .png({ palette: true, colours: 256, compressionLevel: 9, effort: 10 })
      .toBuffer();
    expect(small.length).toBeLessThan(MAX_DOC_SCREENSHOT_BYTES);
    mkdirSync(DOCS_DIR, { recursive: true });
    writeFileSync(path.join(DOCS_DIR, docsName), small);
  }
}

/** Waits until every <img> matched by `selector` has decoded, and returns their natural widths. */
async function decodedWidths(page: Page, selector: string, count: number): Promise<number[]> {
  await page.waitForFunction(
    ([sel, n]) => {
      const images = Array.from(document.querySelectorAll<HTMLImageElement>(sel as string));
      return images.length === n && images.every((img) => img.complete && img.naturalWidth > 0);
    },
    [selector, count] as const,
    { timeout: 90_000 },
  );
  return page.$$eval(selector, (images) => images.map((img) => (img as HTMLImageElement).naturalWidth));
}

/** The RGB pixels of the decoded <img> whose src is `src`, drawn on a canvas at its natural size. */
async function shownPixels(page: Page, src: string): Promise<Uint8Array> {
  const rgba = await page.evaluate((wanted) => {
    const img = Array.from(document.images).find((i) => i.src === wanted);
    if (!img) throw new Error(`no <img> shows ${wanted}`);
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
    ctx.drawImage(img, 0, 0);
    return Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data);
  }, src);
  return Uint8Array.from(rgba.filter((_, i) => i % 4 !== 3));
}

/** The colour drawn at the centre of each token's cell, and the colour the page's own module assigns it. */
async function heatmapColours(page: Page, tokens: number[], codebookSize: number) {
  // Loads the page's heat map module into the page (a string, so vitest does not rewrite the import).
  await page.evaluate("import('/heatmap.js').then((m) => { window.heatmapModule = m; })");
  return page.evaluate(
    ([values, size]) => {
      const { tokenColour, heatmapLayout } = (window as unknown as { heatmapModule: HeatmapModule })
        .heatmapModule;
      const canvas = document.getElementById('heatmap') as HTMLCanvasElement;
      const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
      const { cols, rows } = heatmapLayout(values.length);
      const cellW = canvas.width / cols;
      const cellH = canvas.height / rows;
      return values.map((value, i) => {
        const x = Math.floor((i % cols) * cellW + cellW / 2);
        const y = Math.floor(Math.floor(i / cols) * cellH + cellH / 2);
        const drawn = Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
        return { drawn, expected: tokenColour(value, size) };
      });
    },
    [tokens, codebookSize] as const,
  );
}

interface HeatmapModule {
  tokenColour(value: number, codebookSize: number): number[];
  heatmapLayout(count: number): { cols: number; rows: number };
}

beforeAll(async () => {
  tenant = await newTenant('e2e-playground');
  const models = (await (await api(tenant.key, '/v1/models')).json()) as { data: Model[] };
  model = models.data[0]!;
  fixturePng = await rawToPng(colouredDigit(6, [255, 250, 235], [120, 30, 30], 2));
  browser = await launchChromium();
  desktop = await openPage(browser, stack().apiUrl, { width: 1280, height: 900 });
});

afterAll(async () => {
  await browser?.close();
});

describe('playground page', () => {
  it('takes the local key from the #key= link, clears it from the address bar and lists the models', async () => {
    const { page } = desktop;
    await page.goto(`${stack().apiUrl}/#key=${tenant.key}`);
    await expect.poll(() => page.inputValue('#api-key')).toBe(tenant.key);
    expect(await page.evaluate(() => location.hash)).toBe('');
    expect(await page.evaluate(() => sessionStorage.getItem('gigatok.playground.api-key'))).toBe(tenant.key);
    await page.waitForSelector(`#model option[value="${model.id}"]`, { state: 'attached' });
    expect(await page.textContent('#model-info')).toContain(`${model.tokens_per_image} tokens`);
    const labels = await page.$$eval('#class option', (options) => options.map((o) => o.textContent));
    expect(labels).toEqual(['unconditional', ...model.class_labels]);
  });

  it('tokenizes an uploaded PNG: original, reconstruction, the heat map of its tokens, id, curl and cache state', async () => {
    const { page } = desktop;
    await page.setInputFiles('#image-file', { name: 'six.png', mimeType: 'image/png', buffer: fixturePng });
    await page.waitForSelector('#tokenize-result:not([hidden])', { timeout: 60_000 });
    const widths = await decodedWidths(page, '#original, #reconstruction', 2);
    expect(widths).toEqual([32, model.image_size]);

    // The same bytes through the API: same token set (a cache hit now), and those are the tokens drawn.
    const res = await api(tenant.key, `/v1/tokenize?model=${model.id}`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(fixturePng),
    });
    expect(res.headers.get('x-cache')).toBe('hit');
    const tokens = TokensResponseSchema.parse(await res.json());
    const row = tokens.tokens[0]!;
    expect(await page.textContent('#token-id')).toBe(tokens.id);
    expect((await page.textContent('#token-values'))?.split(' ').map(Number)).toEqual(row);
    expect(await page.getAttribute('#heatmap', 'data-token-count')).toBe(String(model.tokens_per_image));
    for (const { drawn, expected } of await heatmapColours(page, row, tokens.codebook_size)) {
      expect(drawn).toEqual(expected);
    }
    expect(await page.textContent('#heatmap-caption')).toContain(
      `${model.tokens_per_image} tokens · codebook size ${model.codebook_size}`,
    );
    expect(await page.textContent('#cache-tokenize')).toBe('miss');
    expect(await page.textContent('#cache-detokenize')).toBe('miss');
    const curl = await page.textContent('#tokens-curl');
    expect(curl).toContain(`${stack().apiUrl}/v1/tokens/${tokens.id}`);
    expect(curl).not.toContain(tenant.key);

    // The same image again is answered from the caches.
    await page.setInputFiles('#image-file', { name: 'six.png', mimeType: 'image/png', buffer: fixturePng });
    await expect.poll(() => page.textContent('#cache-tokenize'), { timeout: 30_000 }).toBe('hit');
    await expect.poll(() => page.textContent('#cache-detokenize'), { timeout: 30_000 }).toBe('hit');
  });

  it('generates two images of a class picked by label and shows both, with the job status and its JSON', async () => {
    const { page } = desktop;
    const classId = Math.min(7, model.class_labels.length - 1);
    await page.selectOption('#class', { label: model.class_labels[classId]! });
    await page.fill('#count', '2');
    await page.fill('#seed', '4242');
    await page.click('#generate');
    expect(await decodedWidths(page, '#generated img', 2)).toEqual([model.image_size, model.image_size]);
    const status = (await page.textContent('#job-status')) ?? '';
    expect(status).toContain('succeeded');
    const jobId = /job_[a-z2-7]{32}/.exec(status)?.[0];
    expect(jobId).toBeDefined();

    const job = (await (await api(tenant.key, `/v1/generations/${jobId}`)).json()) as {
      status: string;
      params: { seed: number; class_ids: number[] };
    };
    expect(job.status).toBe('succeeded');
    expect(job.params).toMatchObject({ seed: 4242, class_ids: [classId, classId] });
    const alts = await page.$$eval('#generated img', (images) =>
      images.map((img) => img.getAttribute('alt')),
    );
    expect(alts).toEqual([1, 2].map((n) => `Generated image ${n}, class ${model.class_labels[classId]}`));
    // The "open its JSON" link holds the job as the API last answered it.
    const [tab] = await Promise.all([desktop.context.waitForEvent('page'), page.click('#job-json')]);
    await tab.waitForLoadState();
    expect(JSON.parse((await tab.textContent('body')) ?? '')).toMatchObject({
      id: jobId,
      status: 'succeeded',
    });
    await tab.close();
    await screenshot(page, 'desktop', 'desktop.png');
  });

  it('makes variations of a sample per keep value: rows of differing images whose PSNR to the source rises with keep', async () => {
    const { page } = desktop;
    const T = model.tokens_per_image;
    const chips = () =>
      page.$$eval('#keep-list .chip', (items) => items.map((li) => Number(li.getAttribute('data-keep'))));
    // The defaults are 0, T/4, T/2 and 3T/4; the slider adds T - 1 and a chip's button removes T/2.
    expect(await chips()).toEqual([0, T / 4, T / 2, (3 * T) / 4]);
    expect(await page.getAttribute('#keep', 'max')).toBe(String(T - 1));
    await page.fill('#keep', String(T - 1));
    expect(await page.textContent('#keep-value')).toBe(String(T - 1));
    await page.click('#add-keep');
    await page.click(`button[aria-label="Remove keep ${T / 2}"]`);
    const keeps = [0, T / 4, (3 * T) / 4, T - 1];
    expect(await chips()).toEqual(keeps);

    // A sample digit as the source preselects its class.
    await page.click('button[aria-label="Sample digit 7 as the source"]');
    await page.waitForSelector('#variations-source:not([hidden])');
    expect(
      await page.$eval('#variations-class', (s) => (s as HTMLSelectElement).selectedOptions[0]?.textContent),
    ).toBe('7');
    const count = 4;
    await page.fill('#variations-count', String(count));
    await page.fill('#variations-seed', '515');
    await page.click('#make-variations');
    // Each row: the source, then `count` variations, every one decoded.
    await decodedWidths(page, '#variation-rows img', keeps.length * (1 + count));
    expect(
      await page.$$eval('#variation-rows > li', (rows) =>
        rows.map((r) => Number(r.getAttribute('data-keep'))),
      ),
    ).toEqual(keeps);
    expect(await page.textContent('#variations-status')).toContain(`${keeps.length} of ${keeps.length} rows`);

    const source = await toRgb(
      new Uint8Array(await (await fetch(`${stack().apiUrl}/samples/digit-7.png`)).arrayBuffer()),
    );
    const rows = await page.$$eval('#variation-rows > li', (items) =>
      items.map((row) => ({
        keep: Number(row.getAttribute('data-keep')),
        job: row.getAttribute('data-job') ?? '',
        heading: row.querySelector('h3')?.textContent ?? '',
        curl: row.querySelector('code')?.textContent ?? '',
        images: Array.from(row.querySelectorAll<HTMLImageElement>('.variation-images img')).map((img) => ({
          src: img.src,
          alt: img.alt,
          tokenId: img.dataset.tokenId ?? null,
        })),
      })),
    );
    const meanPsnr: number[] = [];
    const sourceIds: (string | undefined)[] = [];
    for (const row of rows) {
      expect(row.heading).toBe(`Keep ${row.keep} of ${T} tokens`);
      const [first, ...variations] = row.images;
      expect(first?.alt).toBe('Source image: digit-7.png');
      expect(variations.map((v) => v.alt)).toEqual(
        [1, 2, 3, 4].map((n) => `Variation ${n} of digit-7.png, keeping ${row.keep} of ${T} tokens`),
      );
      // The pixels shown, read back from each decoded <img> through a canvas (the page's CSP keeps fetch()
      // to its own origin, so the blob: URLs are not fetched again).
      const pixels = await Promise.all(variations.map((v) => shownPixels(page, v.src)));
      // Images within a row differ from each other (different token sets, different pixels).
      // Images within a row differ from each other. Keeping T - 1 samples one token, and two of the four
      // draws may pick the same one (seed 515 does: 3 distinct); every other row samples 8 or more.
      const distinct = new Set(pixels.map((p) => Buffer.from(p).toString('base64'))).size;
      expect(new Set(variations.map((v) => v.tokenId)).size).toBe(distinct);
      expect(distinct).toBeGreaterThanOrEqual(row.keep === T - 1 ? 2 : count);
      meanPsnr.push(pixels.reduce((sum, p) => sum + psnr(source, p), 0) / count);

      // The job behind the row is a variation of the sample's token set with the row's keep, seed and class.
      const job = GenerationSchema.parse(await (await api(tenant.key, `/v1/generations/${row.job}`)).json());
      expect(job.params.variation?.keep).toBe(row.keep);
      sourceIds.push(job.params.variation?.source_token_id);
      expect(row.curl).toContain(`"token_id":"${job.params.variation?.source_token_id}"`);
      expect(job.params).toMatchObject({ seed: 515, class_ids: new Array(count).fill(7) });
      expect(job.result?.images.map((i) => i.token_id)).toEqual(variations.map((v) => v.tokenId));
      expect(row.curl).not.toContain(tenant.key);
    }
    // Layout kept from the first tokens: the more the row keeps, the closer to the source. The source's
    // own reconstruction (all T tokens) is the ceiling, printed beside the rows' figures.
    expect(new Set(sourceIds).size).toBe(1);
    const reconstruction = await postJson(tenant.key, '/v1/detokenize', { token_id: sourceIds[0] });
    const ceiling = psnr(source, await toRgb(new Uint8Array(await reconstruction.arrayBuffer())));
    console.log(
      `variations of digit-7.png, seed 515, ${count} per row: mean PSNR to the source ` +
        rows.map((r, i) => `keep ${r.keep}: ${meanPsnr[i]!.toFixed(2)} dB`).join(', ') +
        `; its reconstruction (keep all ${T}): ${ceiling.toFixed(2)} dB`,
    );
    for (let i = 1; i < meanPsnr.length; i++) expect(meanPsnr[i]).toBeGreaterThan(meanPsnr[i - 1]!);

    // The curl shown for a row, run as it is, asks for the same variations (answered from R2 now).
    const last = rows.at(-1)!;
    const { stdout } = await promisify(execFile)('sh', ['-c', last.curl], {
      env: { ...process.env, GIGATOK_API_KEY: tenant.key },
    });
    const again = GenerationSchema.parse(JSON.parse(stdout));
    expect(again.status).toBe('succeeded');
    expect(again.params.variation?.keep).toBe(last.keep);
    expect(again.result?.images.map((i) => i.token_id)).toEqual(last.images.slice(1).map((v) => v.tokenId));

    await page.click('#variation-rows > li:first-child summary');
    await screenshot(
      page,
      'variations',
      'variations.png',
      page.locator('section[aria-labelledby="variations-heading"]'),
    );
  });

  it('shows rejected variation requests (a count over the limit, an upload that is no image) in its own section, marking its own count field', async () => {
    const { page } = desktop;
    await page.fill('#variations-count', '99');
    await page.click('#make-variations');
    const panel = page.locator('#variations-error');
    await panel.waitFor({ state: 'visible' });
    expect(await panel.locator('.problem-meta').textContent()).toContain('HTTP 400');
    expect(await panel.locator('.problem-meta').textContent()).toContain('field count');
    expect(await panel.locator('.problem-detail').textContent()).toContain("'count'");
    expect(await page.getAttribute('#variations-count', 'aria-invalid')).toBe('true');
    // The generate section has a count field too; it is not the one marked.
    expect(await page.getAttribute('#count', 'aria-invalid')).toBeNull();
    await page.fill('#variations-count', '1');

    // An upload that is no image: the tokenize call's 415 shows here, and no rows are left.
    await page.setInputFiles('#variations-file', {
      name: 'notes.png',
      mimeType: 'image/png',
      buffer: Buffer.from('these are notes, not a PNG'),
    });
    expect(await page.textContent('#variations-source-caption')).toBe('Source: notes.png');
    await page.click('#make-variations');
    await expect.poll(() => panel.locator('.problem-meta').textContent()).toContain('HTTP 415');
    expect(await page.getAttribute('#variations-count', 'aria-invalid')).toBeNull();
    expect(await page.locator('#variation-rows > li').count()).toBe(0);
  });

  it('makes variations of an uploaded image', async () => {
    const { page } = desktop;
    await page.setInputFiles('#variations-file', {
      name: 'six.png',
      mimeType: 'image/png',
      buffer: fixturePng,
    });
    expect(await page.getAttribute('#variations-source-image', 'alt')).toBe('Source image: six.png');
    await page.click('#make-variations');
    const keeps = await page.$$eval('#keep-list .chip', (items) => items.length);
    await decodedWidths(page, '#variation-rows img', keeps * 2);
    expect(await page.isHidden('#variations-error')).toBe(true);
    expect(
      await page.getAttribute('#variation-rows > li:last-child .variation-images li:nth-child(2) img', 'alt'),
    ).toMatch(/^Variation 1 of six\.png, keeping \d+ of \d+ tokens$/);
    await page.fill('#variations-count', '3');
  });

  it('shows the problem detail and marks the field when the API rejects a parameter', async () => {
    const { page } = desktop;
    await page.fill('#temperature', '0');
    await page.click('#generate');
    const panel = page.locator('#generate-error');
    await panel.waitFor({ state: 'visible' });
    expect(await panel.locator('.problem-title').textContent()).toBe('Invalid parameter');
    expect(await panel.locator('.problem-detail').textContent()).toContain("'temperature'");
    expect(await panel.locator('.problem-meta').textContent()).toContain('field temperature');
    expect(await page.getAttribute('#temperature', 'aria-invalid')).toBe('true');
    await screenshot(page, 'field-error');
  });

  it('shows the 401 problem detail for a bad key, on the key form and on an upload', async () => {
    const { page } = desktop;
    await page.fill('#api-key', `gtk_live_${'a'.repeat(32)}`);
    await page.click('#key-form button[type="submit"]');
    const keyError = page.locator('#key-error');
    await keyError.waitFor({ state: 'visible' });
    expect(await keyError.locator('.problem-title').textContent()).toBe('Unauthorized');
    expect(await keyError.locator('.problem-detail').textContent()).toBe('the API key is not valid');
    expect(await keyError.locator('.problem-meta').textContent()).toContain('HTTP 401');

    await page.click('button[aria-label="Sample digit 0"]');
    const tokenizeError = page.locator('#tokenize-error');
    await tokenizeError.waitFor({ state: 'visible' });
    expect(await tokenizeError.locator('.problem-detail').textContent()).toBe('the API key is not valid');
    expect(await page.isHidden('#tokenize-result')).toBe(true);
    await screenshot(page, 'bad-key');
  });

  it('reaches every control with Tab, each with a visible focus ring, and keeps text contrast at AA', async () => {
    const { page } = desktop;
    const reached = await tabThrough(page);
    expect(reached.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'input#api-key',
        'input#image-file',
        'button#Sample digit 7',
        'button#generate',
        'input#keep',
        'button#Remove keep 0',
        'button#Sample digit 7 as the source',
        'button#make-variations',
      ]),
    );
    expect(reached.filter((r) => !r.ring)).toEqual([]);
    expect(await contrastFailures(page)).toEqual([]);
    expect(await overflowingElements(page)).toEqual([]);
    expect(desktop.pageErrors).toEqual([]);
    expect(desktop.foreignRequests).toEqual([]);
  });

  it('works at phone width (375 px): a sample by keyboard, a generation, variations, nothing wider than the screen', async () => {
    const phone = await openPage(browser, stack().apiUrl, { width: 375, height: 812, mobile: true });
    const { page } = phone;
    try {
      await page.goto(`${stack().apiUrl}/#key=${tenant.key}`);
      await page.waitForSelector(`#model option[value="${model.id}"]`, { state: 'attached' });
      await page.focus('button[aria-label="Sample digit 7"]');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#tokenize-result:not([hidden])', { timeout: 60_000 });
      await decodedWidths(page, '#original, #reconstruction', 2);
      await page.fill('#count', '2');
      await page.fill('#seed', '7');
      await page.click('#generate');
      await decodedWidths(page, '#generated img', 2);
      await page.focus('button[aria-label="Sample digit 4 as the source"]');
      await page.keyboard.press('Enter');
      await page.fill('#variations-count', '2');
      await page.click('#make-variations');
      await decodedWidths(page, '#variation-rows img', 4 * 3);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
      expect(await overflowingElements(page)).toEqual([]);
      expect(await contrastFailures(page)).toEqual([]);
      expect(phone.pageErrors).toEqual([]);
      expect(phone.foreignRequests).toEqual([]);
      await screenshot(page, 'phone', 'phone.png');
    } finally {
      await phone.context.close();
    }
  });
});
