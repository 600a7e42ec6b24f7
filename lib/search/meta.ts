/**
 * `index.json`: what a search index was built with. Features only mean something to the model that computed them,
 * so the model's identity is recorded when the index is created and checked whenever it is opened.
 * @module
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { XCLIPConfig } from '../configs';
import { XClipError } from '../errors';

export const META_FILE = 'index.json';
const FORMAT = 'xclip-node-search-index';

/**
 * @example
 * const meta = readMeta(dir); // undefined for a new directory
 * console.log(meta?.model.id, meta?.featureDtype);
 */
export interface IndexMeta {
  format: typeof FORMAT;
  version: 1;
  model: ModelIdentity;
  /** Precision of the stored prompt features. */
  featureDtype: 'float16' | 'float32';
  /** `[numPatches, projectionDim]` visual tokens per entry (the prompt generator's input). */
  layout: 'visual-tokens';
  numPatches: number;
  projectionDim: number;
  createdAt: string;
}

/**
 * @example
 * const id: ModelIdentity = { id: 'demo', configHash: 'ab12…', weightsHash: 'cd34…' };
 */
export interface ModelIdentity {
  /** What the index was opened with: a hub id, `demo`, or an absolute model directory. */
  id: string;
  /** sha256 of the canonical config (keys sorted; dtype left out: it does not change what the weights mean). */
  configHash: string;
  /** sha256 over the checkpoint file's size, first and last MiB; null for a model without files (fromConfig). */
  weightsHash: string | null;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .filter((k) => k !== 'dtype' && k !== 'torch_dtype')
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function configHash(config: XCLIPConfig): string {
  return createHash('sha256').update(JSON.stringify(canonical(config.toJSON()))).digest('hex');
}

const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin'];
const SAMPLE = 1 << 20;

/**
 * A fingerprint of a model directory's checkpoint: two fine-tunes of one architecture differ in their first and
 * last tensors, and hashing the size and those ends costs milliseconds where hashing 600 MB would cost seconds.
 */
export function weightsHash(modelDir: string): string | null {
  if (!modelDir) return null;
  for (const name of WEIGHT_FILES) {
    const file = path.join(modelDir, name);
    if (!fs.existsSync(file)) continue;
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const h = createHash('sha256').update(`${name}:${size}:`);
      const buf = Buffer.alloc(Math.min(SAMPLE, size));
      h.update(buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)));
      h.update(buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, Math.max(0, size - buf.length))));
      return h.digest('hex');
    } finally {
      fs.closeSync(fd);
    }
  }
  return null;
}

/** The index's record, or undefined when the directory has none yet. */
export function readMeta(dir: string): IndexMeta | undefined {
  const file = path.join(dir, META_FILE);
  if (!fs.existsSync(file)) return undefined;
  let meta: IndexMeta;
  try {
    meta = JSON.parse(fs.readFileSync(file, 'utf8')) as IndexMeta;
  } catch (err) {
    throw new XClipError('INDEX_CORRUPT', `${file}: ${(err as Error).message}`);
  }
  const ok =
    meta?.format === FORMAT &&
    meta.version === 1 &&
    typeof meta.model?.id === 'string' &&
    typeof meta.model.configHash === 'string' &&
    (meta.featureDtype === 'float16' || meta.featureDtype === 'float32') &&
    Number.isInteger(meta.numPatches) &&
    Number.isInteger(meta.projectionDim);
  if (!ok) throw new XClipError('INDEX_CORRUPT', `${file} is not an xclip-node search index record (format ${FORMAT}, version 1)`);
  return meta;
}

/** Written once, atomically (a crash leaves no half-written record). */
export function writeMeta(dir: string, meta: Omit<IndexMeta, 'format' | 'version' | 'createdAt'>): IndexMeta {
  const full: IndexMeta = { format: FORMAT, version: 1, ...meta, createdAt: new Date().toISOString() };
  const tmp = path.join(dir, `${META_FILE}.tmp-${process.pid}`);
  fs.writeFileSync(tmp, `${JSON.stringify(full, null, 2)}\n`);
  fs.renameSync(tmp, path.join(dir, META_FILE));
  return full;
}

/** Throws INDEX_MODEL_MISMATCH unless `model` is the one `meta` was built with. */
export function checkModel(dir: string, meta: IndexMeta, model: ModelIdentity): void {
  const sameWeights = meta.model.weightsHash === null || model.weightsHash === null || meta.model.weightsHash === model.weightsHash;
  if (meta.model.configHash !== model.configHash || !sameWeights) {
    const what = meta.model.configHash !== model.configHash ? 'configuration' : 'weights';
    throw new XClipError(
      'INDEX_MODEL_MISMATCH',
      `the index in ${dir} was built with model ${meta.model.id}; ${model.id} has another ${what}, so its scores would not match the stored features`,
    );
  }
}
