// The search page: plain DOM, no framework, no build step beyond tsc. It talks to the server's API (the page
// views of search/similar, which name hits by file name and opaque token, and the public /v1/classify) and never
// sees a server path.

interface Hit {
  token: string;
  name: string;
  start: number;
  end: number;
  logit?: number;
  score: number;
}
interface HitsAnswer {
  model: string;
  results: Hit[];
}
interface ClassifyAnswer {
  results: { file: string; scores?: { label: string; score: number }[]; error?: { code: string; message: string } }[];
}

const PAGE = 24;
const MAX_K = 1000;

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};
const statusLine = $('status');
const results = $<HTMLOListElement>('results');
const input = $<HTMLInputElement>('q');
const player = $<HTMLVideoElement>('player');
const playerPanel = $('player-panel');

/** What the grid shows now: a text search or "more like" an entry, and how many hits were asked for. */
let view: { kind: 'search'; query: string } | { kind: 'similar'; token: string; name: string } | undefined;
let asked = 0;
let exhausted = false;
let loading = false;
let shown = 0;

function apiKey(): string | null {
  return sessionStorage.getItem('xclip-api-key');
}

async function api<T>(url: string, init: RequestInit): Promise<T> {
  const headers = new Headers(init.headers);
  const key = apiKey();
  if (key) headers.set('authorization', `Bearer ${key}`);
  const res = await fetch(url, { ...init, headers });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) $('key-form').hidden = false;
  if (!res.ok) throw new Error(body?.error?.message ?? `${res.status} ${res.statusText}`);
  return body as T;
}

const postJson = <T>(url: string, body: unknown): Promise<T> =>
  api<T>(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

function clock(seconds: number): string {
  const s = Math.max(0, seconds);
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(2).padStart(5, '0')}`;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** Logit bars are scaled to the best and worst logits on screen: a logit has no fixed range. */
let range = { lo: Infinity, hi: -Infinity };

function card(hit: Hit, rank: number): HTMLLIElement {
  const value = hit.logit ?? hit.score;
  const img = el('img', { src: `/page/thumb?t=${hit.token}`, alt: `${hit.name} at ${clock((hit.start + hit.end) / 2)}`, loading: 'lazy', decoding: 'async', width: 320, height: 240 });
  const play = el('button', { type: 'button', className: 'play', title: `Play ${hit.name} from ${clock(hit.start)}` }, img);
  // No preview (the server has no media root, or the file is gone): the card keeps its name, time and bar.
  img.addEventListener('error', () => img.replaceWith(el('span', { className: 'no-thumb' }, 'no preview')), { once: true });
  play.setAttribute('aria-label', `Play result ${rank}: ${hit.name} from ${clock(hit.start)}`);
  play.addEventListener('click', () => playHit(hit));
  const name = el('span', { className: 'name' }, hit.name);
  name.dataset.file = hit.name;
  const bar = el('div', { className: 'bar' }, el('span'));
  bar.setAttribute('role', 'meter');
  bar.setAttribute('aria-label', hit.logit === undefined ? 'similarity' : 'X-CLIP logit');
  bar.setAttribute('aria-valuenow', String(value));
  const similar = el('button', { type: 'button', className: 'similar' }, 'More like this');
  similar.setAttribute('aria-label', `More like result ${rank}: ${hit.name} ${clock(hit.start)}`);
  similar.addEventListener('click', () => void show({ kind: 'similar', token: hit.token, name: hit.name }));
  const li = el(
    'li',
    { className: 'hit' },
    play,
    el(
      'div',
      { className: 'meta' },
      name,
      el('span', { className: 'time' }, `${clock(hit.start)}–${clock(hit.end)}`),
      bar,
      el('span', { className: 'logit-value' }, `${hit.logit === undefined ? 'similarity' : 'logit'} ${value.toFixed(3)}`),
      similar,
    ),
  );
  li.dataset.start = String(hit.start);
  li.dataset.end = String(hit.end);
  li.dataset.value = String(value);
  return li;
}

function rescaleBars(): void {
  for (const li of results.querySelectorAll<HTMLLIElement>('li.hit')) {
    const v = Number(li.dataset.value);
    const frac = range.hi > range.lo ? (v - range.lo) / (range.hi - range.lo) : 1;
    (li.querySelector('.bar > span') as HTMLElement).style.width = `${(8 + 92 * frac).toFixed(1)}%`;
  }
}

/** Shows a new view from its first page. */
async function show(next: NonNullable<typeof view>): Promise<void> {
  view = next;
  asked = 0;
  shown = 0;
  exhausted = false;
  range = { lo: Infinity, hi: -Infinity };
  results.replaceChildren();
  if (next.kind === 'search') {
    input.value = next.query;
    history.replaceState(null, '', `/?q=${encodeURIComponent(next.query)}`);
  }
  await more();
  results.querySelector<HTMLButtonElement>('li.hit .play')?.focus({ preventScroll: true });
}

/** Asks for a larger k and appends the hits not shown yet (the first ones are the same, in the same order). */
async function more(): Promise<void> {
  if (!view || loading || exhausted) return;
  loading = true;
  const current = view;
  const k = Math.min(MAX_K, asked + PAGE);
  statusLine.textContent = current.kind === 'search' ? `Searching for “${current.query}”…` : `Looking for moments like ${current.name}…`;
  try {
    const answer =
      current.kind === 'search' ? await postJson<HitsAnswer>('/page/api/search', { query: current.query, k }) : await postJson<HitsAnswer>('/page/api/similar', { token: current.token, k });
    if (view !== current) return; // a newer search replaced this one
    asked = k;
    exhausted = answer.results.length < k || k >= MAX_K;
    const fresh = answer.results.slice(shown);
    fresh.forEach((hit, i) => {
      const v = hit.logit ?? hit.score;
      range = { lo: Math.min(range.lo, v), hi: Math.max(range.hi, v) };
      results.append(card(hit, shown + i + 1));
    });
    shown = answer.results.length;
    rescaleBars();
    const what = current.kind === 'search' ? `“${current.query}”` : `moments like ${current.name}`;
    statusLine.textContent = shown === 0 ? `No results for ${what}.` : `${shown} result${shown === 1 ? '' : 's'} for ${what}, best first (${answer.model}).`;
  } catch (err) {
    statusLine.textContent = `Search failed: ${(err as Error).message}`;
    exhausted = true;
  } finally {
    loading = false;
  }
}

function playHit(hit: Hit): void {
  playerPanel.hidden = false;
  $('player-caption').textContent = `${hit.name}, ${clock(hit.start)}–${clock(hit.end)}`;
  const start = (): void => {
    player.currentTime = hit.start;
    void player.play().catch(() => undefined); // a browser may refuse autoplay: the controls are there
  };
  const src = `/media?t=${hit.token}`;
  if (player.getAttribute('src') === src && player.readyState >= 1) start();
  else {
    player.addEventListener('loadedmetadata', start, { once: true });
    player.src = src;
  }
  player.focus({ preventScroll: true });
  playerPanel.scrollIntoView({ block: 'nearest' });
}

// Browsers play MP4 (H.264) and WebM; an index may also hold files they cannot (MJPEG .mov, AVI...).
player.addEventListener('error', () => {
  $('player-caption').textContent += ' — this browser cannot play this file (its format or codec)';
});

$('player-close').addEventListener('click', () => {
  player.pause();
  playerPanel.hidden = true;
});

$<HTMLFormElement>('search').addEventListener('submit', (e) => {
  e.preventDefault();
  const query = input.value.trim();
  if (query) void show({ kind: 'search', query });
});

new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) void more();
}).observe($('more'));

$<HTMLFormElement>('classify').addEventListener('submit', async (e) => {
  e.preventDefault();
  const file = $<HTMLInputElement>('clip').files?.[0];
  const labels = $<HTMLTextAreaElement>('labels')
    .value.split(/[\n,]/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const bars = $('bars');
  if (!file || labels.length === 0) return;
  const form = new FormData();
  form.append('file', file, file.name);
  form.append('labels', JSON.stringify(labels));
  bars.replaceChildren(el('li', {}, 'Classifying…'));
  try {
    const answer = await api<ClassifyAnswer>('/v1/classify', { method: 'POST', body: form });
    const [result] = answer.results;
    if (!result?.scores) throw new Error(result?.error?.message ?? 'no scores');
    bars.replaceChildren(
      ...result.scores.map((s) => {
        const bar = el('div', { className: 'bar' }, el('span'));
        (bar.firstChild as HTMLElement).style.width = `${(100 * s.score).toFixed(1)}%`;
        bar.setAttribute('role', 'meter');
        bar.setAttribute('aria-label', s.label);
        bar.setAttribute('aria-valuenow', String(s.score));
        return el('li', {}, el('span', {}, s.label), bar, el('span', { className: 'logit-value' }, `${(100 * s.score).toFixed(1)}%`));
      }),
    );
  } catch (err) {
    bars.replaceChildren(el('li', {}, `Classify failed: ${(err as Error).message}`));
  }
});

$<HTMLFormElement>('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem('xclip-api-key', $<HTMLInputElement>('key').value);
  $('key-form').hidden = true;
  if (view) void show(view);
});

const initial = new URLSearchParams(location.search).get('q');
if (initial) void show({ kind: 'search', query: initial });
else input.focus();

export {};
