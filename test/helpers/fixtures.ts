// Locates /work/shared-style fixtures and compares outputs with the core's tolerances.
import * as fs from 'fs';
import * as path from 'path';
import { packageRoot } from '../../lib/native';
import { Tensor, type TensorType } from '../../lib/tensor';
import type { BaseModelOutputWithPooling, XCLIPOutput } from '../../lib/models';
import { type RawTensor, readSafetensors, toTensor } from './safetensors';

// The checkout's root, wherever this file was compiled to (jest runs it in place; the benches from dist-bench/).
export const ROOT = packageRoot(__dirname);

/** XCLIP_FIXTURES, else ../shared/fixtures beside the checkout (as CI lays it out), else /work/shared/fixtures. */
export function fixturesDir(): string {
  const candidates = [process.env.XCLIP_FIXTURES, path.resolve(ROOT, '..', 'shared', 'fixtures'), '/work/shared/fixtures'];
  for (const c of candidates) if (c && fs.existsSync(path.join(c, 'models'))) return c;
  throw new Error(`fixtures not found (tried ${candidates.filter(Boolean).join(', ')}); set XCLIP_FIXTURES`);
}

/** The fixture videos (in videos/) that decode: every codec, container, frame rate and rotation the fixtures hold. */
export const DECODABLE_VIDEOS = [
  'h264_320x240_30fps.mp4',
  'vp9_176x144_25fps.webm',
  'mjpeg_144x256_portrait.mov',
  'mpeg4_160x120_24fps.avi',
  'vfr_h264_192x108.mp4',
  'short_5frames.mp4',
  'one_frame.mp4',
  'rotated90_h264_320x180.mp4',
] as const;

export const modelDir = (name: string): string => path.join(fixturesDir(), 'models', name);

export function loadCase(model: string, file: string): Map<string, RawTensor> {
  return readSafetensors(path.join(fixturesDir(), 'cases', model, `${file}.safetensors`));
}

/** A fixture input as a Tensor; ids and masks are int64, pixel values float32 (say so with T). */
export function input<T extends TensorType = 'int64'>(c: Map<string, RawTensor>, key: string): Tensor<T> {
  const raw = c.get(key);
  if (!raw) throw new Error(`fixture has no ${key}`);
  return toTensor(raw) as Tensor<T>;
}

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Flattens an output object into HF-style keys: text_model_output.hidden_states.0, logits_per_video, ... */
export function flatten(out: XCLIPOutput | BaseModelOutputWithPooling | Record<string, unknown>, prefix = ''): Map<string, Tensor> {
  const r = new Map<string, Tensor>();
  for (const [key, value] of Object.entries(out)) {
    const name = prefix + snake(key);
    if (value instanceof Tensor) r.set(name, value);
    else if (Array.isArray(value)) value.forEach((t, i) => r.set(`${name}.${i}`, t as Tensor));
    else if (value && typeof value === 'object') for (const [k, v] of flatten(value as Record<string, unknown>, `${name}.`)) r.set(k, v);
  }
  return r;
}

/** atol = rtol: 1e-4 (deep12 2e-4), attentions 1e-5, loss 1e-5; as the core's parity tests. */
export function tolerance(model: string, key: string): number {
  if (/(^|\.)attentions\./.test(key) || key === 'loss') return 1e-5;
  return model === 'xclip-deep12' ? 2e-4 : 1e-4;
}

/** Throws with the worst element when |a - e| > atol + rtol * |e| anywhere or the shapes differ. */
export function expectClose(actual: Tensor | undefined, expected: RawTensor, tol: number, what: string): void {
  if (!actual) throw new Error(`${what}: missing from the output`);
  if (actual.dims.join(',') !== expected.dims.join(',')) {
    throw new Error(`${what}: shape [${actual.dims.join(', ')}] != expected [${expected.dims.join(', ')}]`);
  }
  const a = actual.toFloat32Array();
  const e = expected.data;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const ev = Number(e[i]);
    const excess = Math.abs(a[i] - ev) - (tol + tol * Math.abs(ev));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(`${what}: element ${worst} is ${a[worst]}, expected ${Number(e[worst])} (tolerance ${tol})`);
  }
}

/** Compares every expected key (minus inputs and the f64 drift references) with the flattened output. */
export function expectAllClose(model: string, expected: Map<string, RawTensor>, actual: Map<string, Tensor>, keys?: (k: string) => string | undefined): number {
  let checked = 0;
  for (const [key, raw] of expected) {
    if (key.startsWith('f64.') || key.includes('inputs.')) continue;
    const outKey = keys ? keys(key) : key;
    if (outKey === undefined) continue;
    expectClose(actual.get(outKey), raw, tolerance(model, outKey), `${model} ${key}`);
    checked++;
  }
  return checked;
}
