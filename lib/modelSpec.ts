/**
 * What a `--model` argument names, in one place for every command and server: a model directory, a hub id, or
 * `demo`, the generated model with random weights. The demo model is used only when asked for by name: a job that
 * silently fell back to random weights would store meaningless labels without noticing.
 * @module
 */
import { ensureDemoModel } from './demo';
import { resolveModelDir, type HubOptions } from './hub';

/** The checkpoint used when no model is named. */
export const DEFAULT_MODEL_ID = 'microsoft/xclip-base-patch32';
/** The name that selects the generated demo model (random weights, scores not meaningful). */
export const DEMO_MODEL_ID = 'demo';

/**
 * A model named by a user, resolved to a local directory.
 * @example
 * const m: ResolvedModel = { id: 'demo', dir: '/root/.cache/xclip-node/demo-model-v1', demo: true };
 */
export interface ResolvedModel {
  /** What was asked for (the default id when nothing was). */
  id: string;
  /** The local directory holding config, weights, tokenizer and preprocessor files. */
  dir: string;
  /** True for the generated demo model, whose scores are not meaningful. */
  demo: boolean;
}

/**
 * Resolves a model argument: `demo` → the generated demo model (made on first use); a directory → itself; a hub
 * id → the cached snapshot, downloading what is missing unless offline; `undefined` → {@link DEFAULT_MODEL_ID}.
 * Hub failures reject with their `HUB_*` code; there is no fallback.
 * @example
 * const { dir, demo } = await resolveModelSpec(process.env.XCLIP_MODEL);
 * const clf = await ZeroShotVideoClassifier.fromPretrained(dir);
 */
export async function resolveModelSpec(spec: string | undefined, options: HubOptions = {}): Promise<ResolvedModel> {
  const id = spec ?? DEFAULT_MODEL_ID;
  if (id === DEMO_MODEL_ID) return { id, dir: await ensureDemoModel(), demo: true };
  return { id, dir: await resolveModelDir(id, options), demo: false };
}
