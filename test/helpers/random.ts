/**
 * mulberry32: a small, fast, seeded generator, so tests and benchmarks that draw random values (kill moments,
 * synthetic features) can be rerun exactly from the seed they print.
 * @example
 * const next = mulberry32(7); next(); // a number in [0, 1)
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
