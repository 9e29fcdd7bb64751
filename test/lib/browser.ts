// A real browser for page tests: Debian's Chromium driven by playwright-core, kept off the outside
// network, plus in-page checks for the accessibility rules the playground promises (WCAG 2.2 AA contrast,
// a visible focus indicator on every control reached with Tab).
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.GIGATOK_CHROMIUM ?? '/usr/bin/chromium';

// Without these, headless Chromium keeps calling Google services (component updates, sync, QUIC probes);
// --no-sandbox because CI containers run as root.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches headless Chromium; playwright gives every launch a fresh temporary user data dir. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install -y --no-install-recommends chromium`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught exceptions in the page. */
  pageErrors: string[];
  /** Requests to anywhere but `origin` (refused). */
  foreignRequests: string[];
  /** Console output, for failure messages. */
  console: string[];
}

/** A new browser context whose page may reach only `origin`; everything else is refused and recorded. */
export async function openPage(
  browser: Browser,
  origin: string,
  options: { width: number; height: number; mobile?: boolean },
): Promise<WatchedPage> {
  const context = await browser.newContext({
    viewport: { width: options.width, height: options.height },
    deviceScaleFactor: 1,
    isMobile: options.mobile ?? false,
    hasTouch: options.mobile ?? false,
  });
  const watched: WatchedPage = {
    context,
    page: await context.newPage(),
    pageErrors: [],
    foreignRequests: [],
    console: [],
  };
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`)) return route.continue();
    watched.foreignRequests.push(url);
    return route.abort('blockedbyclient');
  });
  watched.page.on('pageerror', (error) => watched.pageErrors.push(error.message));
  watched.page.on('console', (message) => watched.console.push(`${message.type()}: ${message.text()}`));
  return watched;
}

/**
 * Text whose contrast with its background is below WCAG 2.2 AA (4.5:1, or 3:1 for large text: >= 24 px,
 * or >= 18.66 px bold), as "ratio text" strings. Only visible elements with their own text are judged;
 * disabled controls are exempt (WCAG 1.4.3). The background is the nearest opaque ancestor background.
 */
export function contrastFailures(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const rgba = (css: string): number[] | null => {
      const m = /^rgba?\(([\d.]+),?\s*([\d.]+),?\s*([\d.]+)(?:\s*[,/]\s*([\d.]+))?\)$/.exec(css);
      return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])] : null;
    };
    // WCAG 2.x relative luminance of an sRGB colour.
    const luminance = (c: number[]) => {
      const [r, g, b] = c.slice(0, 3).map((v) => {
        const s = v / 255;
        return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      }) as [number, number, number];
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const background = (element: Element): number[] => {
      for (let node: Element | null = element; node; node = node.parentElement) {
        const colour = rgba(getComputedStyle(node).backgroundColor);
        if (colour && (colour[3] ?? 0) >= 0.5) return colour;
      }
      return [255, 255, 255, 1];
    };
    const failures: string[] = [];
    for (const element of Array.from(document.querySelectorAll('body *'))) {
      const ownText = Array.from(element.childNodes)
        .filter((n) => n.nodeType === Node.TEXT_NODE)
        .map((n) => n.textContent ?? '')
        .join('')
        .trim();
      if (!ownText) continue;
      const style = getComputedStyle(element);
      const box = element.getBoundingClientRect();
      if (style.visibility === 'hidden' || box.width <= 1 || box.height <= 1) continue;
      if ((element as HTMLButtonElement).disabled) continue;
      const fg = rgba(style.color);
      if (!fg) continue;
      const [l1, l2] = [luminance(fg), luminance(background(element))];
      const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
      const size = Number.parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) failures.push(`${ratio.toFixed(2)} "${ownText.slice(0, 40)}"`);
    }
    return failures;
  });
}

/**
 * Presses Tab until focus comes back to where it started (at most `limit` times) and returns each control
 * reached as "tag#id|name: ring", where ring is the outline drawn around it, or around the label of a
 * visually hidden file input (the label is what a sighted keyboard user sees).
 */
export async function tabThrough(page: Page, limit = 80): Promise<{ name: string; ring: boolean }[]> {
  const reached: { name: string; ring: boolean }[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    const stop = await page.evaluate(() => {
      const active = document.activeElement as HTMLElement | null;
      if (!active || active === document.body) return null;
      const hasRing = (element: Element) => {
        const style = getComputedStyle(element);
        return style.outlineStyle !== 'none' && Number.parseFloat(style.outlineWidth) >= 2;
      };
      const label = active.id ? document.querySelector(`label[for="${active.id}"]`) : null;
      const hiddenInput = active instanceof HTMLInputElement && active.getBoundingClientRect().width <= 1;
      const name = `${active.tagName.toLowerCase()}#${active.id || active.getAttribute('aria-label') || active.textContent?.trim().slice(0, 20)}`;
      return { name, ring: hasRing(active) || (hiddenInput && label !== null && hasRing(label)) };
    });
    if (!stop) continue;
    if (seen.has(stop.name)) break;
    seen.add(stop.name);
    reached.push(stop);
  }
  return reached;
}

/**
 * Elements whose content is wider than their box (text that runs out of its container, e.g. a long id
 * that cannot wrap), plus any element reaching past the viewport's right edge. Form fields scroll their
 * own text and are not judged.
 */
export function overflowingElements(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    for (const element of Array.from(document.querySelectorAll<HTMLElement>('body *'))) {
      if (['INPUT', 'SELECT', 'TEXTAREA', 'OPTION'].includes(element.tagName)) continue;
      const box = element.getBoundingClientRect();
      if (box.width <= 1 || box.height <= 1) continue; // hidden or visually hidden
      const name = `${element.tagName.toLowerCase()}${element.id ? `#${element.id}` : ''}.${element.className}`;
      if (element.scrollWidth > element.clientWidth + 1 && element.clientWidth > 0) {
        found.push(`${name}: content ${element.scrollWidth} px in a ${element.clientWidth} px box`);
      } else if (box.right > window.innerWidth + 0.5) {
        found.push(`${name}: right edge at ${Math.round(box.right)} px, viewport ${window.innerWidth} px`);
      }
    }
    return found;
  });
}
