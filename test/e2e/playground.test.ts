// The playground page (workers/api/public) in a real Chromium against the real local stack: the key from
// the local link, tokenize + reconstruction + heat map, generations shown as they finish, problem details
// for bad input and bad keys, keyboard focus and contrast, and the phone layout. Screenshots go to
// test-output/playground/; with GIGATOK_UPDATE_SCREENSHOTS=1 the two in docs/playground/ are refreshed.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TokensResponseSchema } from '@gigatok/shared';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/local-stack.ts';
import { api, newTenant, stack } from '../lib/api.ts';
import {
  contrastFailures,
  launchChromium,
  openPage,
  overflowingElements,
  tabThrough,
  type WatchedPage,
} from '../lib/browser.ts';
import { colouredDigit, rawToPng } from '../lib/images.ts';

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

async function screenshot(page: Page, name: string, docsName?: string): Promise<void> {
  mkdirSync(OUT_DIR, { recursive: true });
  const png = await page.screenshot({ fullPage: true, animations: 'disabled' });
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
      ]),
    );
    expect(reached.filter((r) => !r.ring)).toEqual([]);
    expect(await contrastFailures(page)).toEqual([]);
    expect(await overflowingElements(page)).toEqual([]);
    expect(desktop.pageErrors).toEqual([]);
    expect(desktop.foreignRequests).toEqual([]);
  });

  it('works at phone width (375 px): a sample by keyboard, a generation, nothing wider than the screen', async () => {
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
