// The search page in a real browser: Debian's chromium, headless, driven by playwright-core. The server is real
// (127.0.0.1, a free port) over an index of the fixture videos built with the e2e fixture model. The test searches,
// checks the page shows /v1/search's results in its order, plays a result from its segment's start, runs "More
// like this" and the zero-shot panel, and saves a screenshot under .cache/test/browser/.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { chromium, type Browser, type Page } from 'playwright-core';

import { ZeroShotVideoClassifier } from '../../lib/pipelines';
import { VideoIndex } from '../../lib/search/videoIndex';
import { ROOT } from '../helpers/fixtures';
import { buildServer } from '../../lib/server/app';
import { E2E_MODEL, VIDEOS, videoPath, type Running } from '../helpers/server';

const CHROMIUM = process.env.XCLIP_CHROMIUM ?? '/usr/bin/chromium';
const OUT = path.join(ROOT, '.cache', 'test', 'browser');
const FILES = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm', 'mjpeg_144x256_portrait.mov', 'vfr_h264_192x108.mp4', 'short_5frames.mp4'];
const QUERY = 'go shopping';

interface Shown {
  name: string;
  start: number;
  end: number;
  value: number;
}

jest.setTimeout(60_000);

describe('search page in chromium', () => {
  let db: string;
  let clf: ZeroShotVideoClassifier;
  let index: VideoIndex;
  let server: Running;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: the search page test needs Debian's chromium; run bash scripts/install-deps.sh (or set XCLIP_CHROMIUM)`);
    }
    fs.mkdirSync(OUT, { recursive: true });
    db = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-page-'));
    clf = await ZeroShotVideoClassifier.fromPretrained(E2E_MODEL);
    index = await VideoIndex.open(db, { model: clf, modelId: 'xclip-e2e-a' });
    // Quarter-second segments: most hits start after 0, so "plays from the segment's start" means something, and
    // there are more entries than the page's first 24, so scrolling has more to fetch.
    const added = await index.add(FILES.map(videoPath), { clipSeconds: 0.25 });
    expect(added.every((a) => a.entries > 0 && !a.error)).toBe(true);
    const app = await buildServer({ classifier: clf, index, modelId: 'xclip-e2e-a', media: { mediaRoot: VIDEOS } });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    server = { app, url, port: Number(new URL(url).port) };
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio'] });
    page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    await index?.close();
    await clf?.dispose();
    if (db) fs.rmSync(db, { recursive: true, force: true });
  });

  const shown = (): Promise<Shown[]> =>
    page.$$eval('#results li.hit', (lis) =>
      lis.map((li) => ({
        name: li.querySelector('[data-file]')?.getAttribute('data-file') ?? '',
        start: Number((li as HTMLElement).dataset.start),
        end: Number((li as HTMLElement).dataset.end),
        value: Number((li as HTMLElement).dataset.value),
      })),
    );

  /** /v1/search's hits as the page shows them. */
  const apiSearch = async (k: number): Promise<Shown[]> => {
    const res = await fetch(`${server.url}/v1/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: QUERY, k }) });
    const api = (await res.json()) as { results: { source: string; start: number; end: number; logit: number }[] };
    return api.results.map((r) => ({ name: path.basename(r.source), start: r.start, end: r.end, value: r.logit }));
  };

  it('runs ?q= on load and shows the results of the search in its order, with thumbnails', async () => {
    await page.goto(`${server.url}/?q=${encodeURIComponent(QUERY)}`);
    await page.waitForFunction(() => /result/.test(document.getElementById('status')?.textContent ?? '') && !/Searching/.test(document.getElementById('status')?.textContent ?? ''));
    const hits = await shown();
    expect(index.size).toBeGreaterThan(24);
    expect(hits.length).toBe(24);
    expect(hits).toEqual(await apiSearch(24));
    for (let i = 1; i < hits.length; i++) expect(hits[i].value).toBeLessThanOrEqual(hits[i - 1].value);
    // Every thumbnail on screen decoded in the browser (the others load lazily, when scrolled to).
    await page.waitForFunction(() =>
      [...document.querySelectorAll<HTMLImageElement>('#results img')]
        .filter((img) => img.getBoundingClientRect().top < innerHeight)
        .every((img) => img.complete && img.naturalWidth > 0),
    );
    // The page holds no server path.
    expect(await page.content()).not.toContain(VIDEOS);
    await page.screenshot({ path: path.join(OUT, 'search-page.png') });
    // The README's picture: a narrower window, the first two rows (XCLIP_UPDATE_DOCS=1 writes it to docs/).
    // (kept under 200 kB: the test pattern's noise makes big PNGs)
    await page.setViewportSize({ width: 800, height: 500 });
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const readme = path.join(OUT, 'search-page-readme.png');
    await page.screenshot({ path: readme });
    if (process.env.XCLIP_UPDATE_DOCS === '1') fs.copyFileSync(readme, path.join(ROOT, 'docs', 'search-page.png'));
    await page.setViewportSize({ width: 1100, height: 900 });
  });

  it('fetches more results on scroll, in the order of a search with the larger k', async () => {
    await page.locator('#more').scrollIntoViewIfNeeded();
    await page.waitForFunction(() => document.querySelectorAll('#results li.hit').length > 24);
    const hits = await shown();
    expect(hits).toEqual(await apiSearch(48));
    await page.evaluate(() => window.scrollTo(0, 0));
  });

  it('plays a result from its segment start when clicked', async () => {
    const hits = await shown();
    const i = hits.findIndex((h) => h.start > 0.4);
    expect(i).toBeGreaterThanOrEqual(0);
    await page.locator('#results li.hit .play').nth(i).click();
    await page.waitForFunction(
      (start) => {
        const v = document.getElementById('player') as HTMLVideoElement;
        return v.readyState >= 2 && !v.paused && v.currentTime >= start;
      },
      hits[i].start,
      { timeout: 20_000 },
    );
    const t = await page.$eval('#player', (v) => (v as HTMLVideoElement).currentTime);
    expect(t).toBeGreaterThanOrEqual(hits[i].start);
    await page.screenshot({ path: path.join(OUT, 'playing.png') });
  });

  it('"More like this" lists the nearest entries, the clicked one left out', async () => {
    const first = (await shown())[0];
    await page.locator('#results li.hit .similar').first().click();
    await page.waitForFunction(() => /moments like .*, best first/.test(document.getElementById('status')?.textContent ?? ''));
    const similar = await shown();
    expect(similar.length).toBeGreaterThan(0);
    expect(similar.some((h) => h.name === first.name && h.start === first.start)).toBe(false);
  });

  it('the zero-shot panel classifies an uploaded clip against the labels', async () => {
    await page.locator('#zeroshot summary').click();
    await page.setInputFiles('#clip', videoPath('h264_320x240_30fps.mp4'));
    await page.locator('#classify button[type=submit]').click();
    await page.waitForFunction(() => document.querySelectorAll('#bars [role=meter]').length === 3);
    const labels = await page.$$eval('#bars [role=meter]', (bars) => bars.map((b) => b.getAttribute('aria-label')));
    expect(labels.sort()).toEqual(['eating spaghetti', 'go shopping', 'playing sports']);
  });

  it('is usable from the keyboard: tab to the search box, type, Enter', async () => {
    await page.goto(server.url);
    // The search box has the focus on load; Tab moves on to the button, Shift+Tab comes back.
    await page.waitForFunction(() => document.activeElement?.id === 'q');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Search');
    await page.keyboard.press('Shift+Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('q');
    await page.keyboard.type('playing sports');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.classList.contains('play') === true);
    expect(page.url()).toBe(`${server.url}/?q=playing%20sports`);
  });
});
