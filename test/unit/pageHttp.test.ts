// The search page's HTTP helpers: single byte ranges as video elements send them, and sealed entry tokens.
import { parseRange } from '../../lib/server/httpRange';
import { PageTokens } from '../../lib/server/pageTokens';

describe('parseRange', () => {
  it.each([
    ['bytes=0-99', { kind: 'partial', start: 0, end: 99 }],
    ['bytes=100-', { kind: 'partial', start: 100, end: 999 }],
    ['bytes=-10', { kind: 'partial', start: 990, end: 999 }],
    ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }],
    ['bytes=900-5000', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=999-999', { kind: 'partial', start: 999, end: 999 }],
  ])('%s over 1000 bytes', (header, answer) => expect(parseRange(header, 1000)).toEqual(answer));

  it.each(['bytes=1000-', 'bytes=5000-6000', 'bytes=-0'])('%s over 1000 bytes is unsatisfiable (416)', (header) =>
    expect(parseRange(header, 1000)).toEqual({ kind: 'unsatisfiable' }),
  );

  it.each([undefined, 'bytes=0-1,5-6', 'items=0-1', 'bytes=5-2', 'bytes=-', 'garbage'])('%s is answered with the whole file', (header) =>
    expect(parseRange(header, 1000)).toEqual({ kind: 'whole' }),
  );

  it('an empty file satisfies no range', () => expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' }));
});

describe('PageTokens', () => {
  const id = '/srv/videos/holiday 2024/é.mp4#12';

  it('round-trips an id through a URL-safe token that does not show it', () => {
    const tokens = new PageTokens();
    const t = tokens.seal(id);
    expect(t).toMatch(/^[\w-]+$/);
    expect(t).not.toContain('srv');
    expect(Buffer.from(t, 'base64url').toString('latin1')).not.toContain('videos');
    expect(tokens.open(t)).toBe(id);
    expect(tokens.seal(id)).toBe(t); // one URL per entry, so browsers can cache it
    expect(tokens.seal(`${id}3`)).not.toBe(t);
  });

  it('opens nothing it did not make: tampered, truncated, foreign or malformed tokens', () => {
    const tokens = new PageTokens();
    const t = tokens.seal(id);
    const flipped = Buffer.from(t, 'base64url');
    flipped[flipped.length - 1] ^= 1;
    expect(tokens.open(flipped.toString('base64url'))).toBeUndefined();
    expect(tokens.open(t.slice(0, 20))).toBeUndefined();
    expect(tokens.open(new PageTokens().seal(id))).toBeUndefined();
    for (const bad of ['', 'not a token!', '../../etc/passwd', 'x'.repeat(10000)]) expect(tokens.open(bad)).toBeUndefined();
  });
});
