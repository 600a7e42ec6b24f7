/**
 * `--model`, `--device` and `--batch`, shared by every command that runs the model: the model comes from
 * {@link resolveModelSpec} (no fallback to random weights), and a hub failure says what to do in one line.
 * @module
 * @internal
 */
import type { BatchingOptions } from '../batchingOptions';
import { XClipError } from '../errors';
import type { DownloadProgress } from '../hub';
import { DEFAULT_MODEL_ID, DEMO_MODEL_ID, resolveModelSpec, type ResolvedModel } from '../modelSpec';
import { DEVICE_PATTERN, type Device } from '../models';
import { ZeroShotVideoClassifier } from '../pipelines';
import { type OptionSpec, type ParsedArgs, UsageError, intOption, stringOption } from './args';
import { CliError, type CliIo, EXIT_FAILED, EXIT_MISSING_INPUT } from './io';

/** The options of every command that loads the model. */
export const MODEL_OPTIONS: readonly OptionSpec[] = [
  { name: 'model', value: 'id|dir|demo', help: `hub id or model directory (default ${DEFAULT_MODEL_ID});\n"${DEMO_MODEL_ID}": a generated model with random weights, scores NOT meaningful` },
  { name: 'device', value: 'd', help: 'cpu | cuda | cuda:N | auto (default cpu)' },
  { name: 'batch', value: 'n', help: 'most videos per model call, 1-256 (default 8)' },
];

/** A loaded classifier and what it was loaded from. */
export interface OpenedModel {
  clf: ZeroShotVideoClassifier;
  model: ResolvedModel;
}

function downloadProgress(io: CliIo): (p: DownloadProgress) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 500 && p.loaded !== p.total) return;
    last = now;
    const pct = p.total ? ` ${((100 * p.loaded) / p.total).toFixed(1)}%` : '';
    io.err(`downloading ${p.file}: ${(p.loaded / 1e6).toFixed(1)} MB${pct}`);
  };
}

/** Checks --device and --batch; for commands to call before any slow work. */
export function modelSettings(args: ParsedArgs): { device: Device | undefined; maxBatch: number | undefined } {
  const device = stringOption(args, 'device');
  if (device !== undefined && !DEVICE_PATTERN.test(device)) {
    throw new UsageError(`--device expects cpu, cuda, cuda:N or auto but received "${device}"`);
  }
  return { device: device as Device | undefined, maxBatch: intOption(args, 'batch', 1, 256) };
}

/**
 * Resolves `--model` and loads it. A missing model directory exits 3 like a missing input; the hub being offline
 * or unreachable exits 1 with a hint; the demo model is announced on stderr.
 */
export async function openModel(args: ParsedArgs, io: CliIo, batching: Omit<BatchingOptions, 'maxBatch'> = {}): Promise<OpenedModel> {
  const { device, maxBatch } = modelSettings(args);
  const spec = stringOption(args, 'model');
  let model: ResolvedModel;
  try {
    model = await resolveModelSpec(spec, { onProgress: downloadProgress(io) });
  } catch (err) {
    throw modelError(err, spec ?? DEFAULT_MODEL_ID);
  }
  if (model.demo) io.err(`note: --model ${DEMO_MODEL_ID} is a generated model with RANDOM weights: its scores are NOT meaningful`);
  try {
    return { clf: await ZeroShotVideoClassifier.fromPretrained(model.dir, { ...batching, device, maxBatch }), model };
  } catch (err) {
    throw modelError(err, model.id);
  }
}

function modelError(err: unknown, id: string): unknown {
  if (!(err instanceof XClipError)) return err;
  if (err.code === 'FILE_NOT_FOUND') return new CliError(err.message, EXIT_MISSING_INPUT, { code: err.code, cause: err });
  if (err.code === 'HUB_OFFLINE' || err.code === 'HUB_DOWNLOAD_FAILED') {
    return new CliError(err.message, EXIT_FAILED, {
      code: err.code,
      cause: err,
      hint: `hint: download ${id} once with network access (HF_HUB_OFFLINE unset), pass --model DIR for a local copy, or --model ${DEMO_MODEL_ID} to try the CLI on generated weights (scores not meaningful)`,
    });
  }
  return err;
}
