// Synthetic search entries for the search bench and its small test: deterministic per entry number, so an index
// can be built in resumable chunks. Each entry has a latent "scene" near one of `clusters` centres; its video
// embedding is the latent plus noise, and its 49 prompt tokens share the latent (as real patch tokens share the
// video's content) with per-token noise at the scale of real prompt features (mean ~0, std ~0.5 on the fixture
// models). Queries are latents near a centre, as text features of a topic would be. Pushed through a real prompt
// generator, these give X-CLIP scores that differ from the plain cosine the way the model's weights make them
// differ; with random weights that is not what a trained checkpoint does (see the README's note on recall).
import type { EntryRow } from '../lib/search/store';
import { mulberry32 } from '../test/helpers/random';


function gaussian(next: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
}

export interface SyntheticSpace {
  dim: number;
  numPatches: number;
  centres: Float32Array;
  clusters: number;
  seed: number;
}

export function makeSpace(dim: number, numPatches: number, clusters = 256, seed = 1): SyntheticSpace {
  const g = gaussian(mulberry32(seed));
  return { dim, numPatches, clusters, seed, centres: Float32Array.from({ length: clusters * dim }, () => g() * 0.5) };
}

/** Gaussian noise shared by all entries (each reads it from its own offset): generating 25k normals per entry in JS
 * would cost more than everything the bench measures. */
let noisePool: Float32Array | undefined;
function noise(): Float32Array {
  if (!noisePool) {
    const g = gaussian(mulberry32(12345));
    noisePool = Float32Array.from({ length: 1 << 20 }, () => g());
  }
  return noisePool;
}

/** Entry `i`: its video embedding `[dim]` and prompt tokens `[numPatches, dim]`. */
export function entryFeatures(s: SyntheticSpace, i: number, withTokens = true): { vector: Float32Array; tokens?: Float32Array } {
  const next = mulberry32(s.seed * 7919 + i * 2654435761);
  const g = gaussian(next);
  const c = Math.floor(next() * s.clusters);
  const z = Float32Array.from({ length: s.dim }, (_, j) => s.centres[c * s.dim + j] + 0.3 * g());
  const vector = z.map((x) => x + 0.1 * g());
  if (!withTokens) return { vector };
  const tokens = new Float32Array(s.numPatches * s.dim);
  const pool = noise();
  const offset = Math.floor(next() * (pool.length - tokens.length));
  for (let p = 0; p < s.numPatches; p++) for (let j = 0; j < s.dim; j++) tokens[p * s.dim + j] = 0.5 * z[j] + 0.4 * pool[offset + p * s.dim + j];
  return { vector, tokens };
}

/** Query `q`: text features of a topic (a latent near a centre). */
export function queryFeatures(s: SyntheticSpace, q: number): Float32Array {
  const next = mulberry32(s.seed * 104729 + q * 40503);
  const g = gaussian(next);
  const c = Math.floor(next() * s.clusters);
  return Float32Array.from({ length: s.dim }, (_, j) => s.centres[c * s.dim + j] + 0.3 * g());
}

/** IEEE half-precision bits of each value (round to nearest even), as the core stores float16 features. */
export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let h = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rem > half || (rem === half && h & 1)) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    // A carry out of the mantissa moves to the next exponent (or to infinity), as it should.
    if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
    out[i] = sign | h;
  }
  return out;
}

function bytes(a: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Rows `start..start+count` of a synthetic index; `pool` > 0 reuses that many token sets (latency runs only). */
export function syntheticRows(s: SyntheticSpace, start: number, count: number, featureDtype: 'float16' | 'float32', pool = 0): EntryRow[] {
  const pooled = new Map<number, Uint8Array>();
  return Array.from({ length: count }, (_, k) => {
    const i = start + k;
    const { vector, tokens } = entryFeatures(s, i, pool === 0);
    let features: Uint8Array;
    if (pool > 0) {
      const p = i % pool;
      let f = pooled.get(p);
      if (!f) {
        const t = entryFeatures(s, p).tokens!;
        f = bytes(featureDtype === 'float16' ? toFloat16(t) : t);
        pooled.set(p, f);
      }
      features = f;
    } else {
      features = bytes(featureDtype === 'float16' ? toFloat16(tokens!) : tokens!);
    }
    return { id: `synthetic-${i}#0`, source: `synthetic-${i}`, segment: 0, start: 0, end: 10, vector, features };
  });
}
