/**
 * Model files from the Hugging Face hub, through the same on-disk cache Python's huggingface_hub uses
 * (`models--ORG--NAME/{blobs,refs,snapshots}`), so checkpoints a Python user already downloaded are reused and
 * files we download are visible to Python.
 * @module
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { XClipError } from './errors';

/** Progress of one file's download, for progress bars. */
export interface DownloadProgress {
  file: string;
  /** Bytes on disk so far, including a resumed prefix. */
  loaded: number;
  /** Total size when the server said it, else undefined. */
  total?: number;
}

export interface HubOptions {
  /** Branch, tag or commit hash. Default `'main'`. */
  revision?: string;
  /** Never touch the network (also forced by `HF_HUB_OFFLINE=1`). */
  localFilesOnly?: boolean;
  /** Overrides `HF_HUB_CACHE` / `HF_HOME`. */
  cacheDir?: string;
  /** Overrides `HF_TOKEN`. */
  token?: string;
  /** Overrides `HF_ENDPOINT` (default `https://huggingface.co`). */
  endpoint?: string;
  onProgress?: (p: DownloadProgress) => void;
}

/** The files a model directory is made of; the first present weights format wins, as in from_pretrained. */
const REQUIRED_FILES = ['config.json'];
const WEIGHT_CHOICES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin'];
const OPTIONAL_FILES = [
  'preprocessor_config.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
];

const REPO_ID = /^[A-Za-z0-9][\w.-]{0,95}\/[\w.-]{1,96}$/;
const COMMIT = /^[0-9a-f]{40}$/;

/** The hub cache root, resolved as huggingface_hub does. */
export function hubCacheDir(override?: string): string {
  if (override) return override;
  const env = process.env;
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  const home = env.HF_HOME ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface');
  return path.join(home, 'hub');
}

/** `true` for `org/name` ids (and bare names), `false` for anything that looks like a path. */
export function isRepoId(s: string): boolean {
  return REPO_ID.test(s) && !s.startsWith('.') && !s.includes('..');
}

function repoFolder(cache: string, repoId: string): string {
  return path.join(cache, `models--${repoId.replace(/\//g, '--')}`);
}

function isOffline(options: HubOptions): boolean {
  const v = (process.env.HF_HUB_OFFLINE ?? '').toLowerCase();
  return options.localFilesOnly === true || v === '1' || v === 'true' || v === 'yes' || v === 'on';
}

/** Looks a file up in the cache without any network access. */
function cachedFile(repoDir: string, revision: string, file: string): string | undefined {
  let commit = revision;
  if (!COMMIT.test(revision)) {
    try {
      commit = fs.readFileSync(path.join(repoDir, 'refs', revision), 'utf8').trim();
    } catch {
      return undefined;
    }
  }
  const p = path.join(repoDir, 'snapshots', commit, file);
  return fs.existsSync(p) ? p : undefined;
}

function snapshotDirOf(repoDir: string, revision: string): string | undefined {
  const config = cachedFile(repoDir, revision, 'config.json');
  return config ? path.dirname(config) : undefined;
}

interface RemoteMeta {
  commit: string;
  etag: string;
  size?: number;
  url: string;
}

function headers(options: HubOptions): Record<string, string> {
  const token = options.token ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  const h: Record<string, string> = { 'user-agent': 'xclip-node' };
  if (token) h.authorization = `Bearer ${token}`;
  return h;
}

function endpointOf(options: HubOptions): string {
  return (options.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
}

function hubError(status: number, repoId: string, file: string, revision: string): XClipError {
  if (status === 401 || status === 403) {
    return new XClipError('HUB_UNAUTHORIZED', `Access to ${repoId} (${file}) was refused (HTTP ${status}); set HF_TOKEN for gated or private models`);
  }
  if (status === 404) {
    return new XClipError('HUB_NOT_FOUND', `${file} was not found in ${repoId} at revision ${revision} (HTTP 404)`);
  }
  return new XClipError('HUB_DOWNLOAD_FAILED', `Downloading ${file} from ${repoId} failed with HTTP ${status}`);
}

/** A hub that does not answer metadata requests in this time counts as unreachable (huggingface_hub uses 10 s). */
function metadataTimeoutMs(): number {
  const v = Number(process.env.HF_HUB_ETAG_TIMEOUT);
  return Number.isFinite(v) && v > 0 ? v * 1000 : 10_000;
}

/** HEAD on the resolve endpoint, as huggingface_hub: commit and etag come from headers, before any redirect. */
async function remoteMeta(repoId: string, revision: string, file: string, options: HubOptions): Promise<RemoteMeta | undefined> {
  const url = `${endpointOf(options)}/${repoId}/resolve/${encodeURIComponent(revision)}/${file}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'HEAD', headers: headers(options), redirect: 'manual', signal: AbortSignal.timeout(metadataTimeoutMs()) });
  } catch (err) {
    throw new XClipError('HUB_DOWNLOAD_FAILED', `Cannot reach ${endpointOf(options)} for ${repoId}/${file}: ${(err as Error).message}`);
  }
  if (res.status === 404) return undefined;
  if (res.status >= 400) throw hubError(res.status, repoId, file, revision);
  const commit = res.headers.get('x-repo-commit') ?? '';
  const etag = (res.headers.get('x-linked-etag') ?? res.headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  if (!COMMIT.test(commit) || !/^[0-9a-f]{40,64}$/.test(etag)) {
    throw new XClipError('HUB_DOWNLOAD_FAILED', `The hub answered for ${repoId}/${file} without a commit or etag header`);
  }
  const sizeHeader = res.headers.get('x-linked-size') ?? res.headers.get('content-length');
  const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
  const location = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
  return { commit, etag, size, url: location ? new URL(location, url).toString() : url };
}

/** LFS files carry their sha256 as etag; small git files their git blob sha1. */
async function verify(file: string, blobPath: string, etag: string): Promise<void> {
  const size = fs.statSync(blobPath).size;
  const hash = etag.length === 64 ? createHash('sha256') : createHash('sha1').update(`blob ${size}\0`);
  await new Promise<void>((resolve, reject) => {
    fs.createReadStream(blobPath)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve())
      .on('error', reject);
  });
  const digest = hash.digest('hex');
  if (digest !== etag) {
    throw new XClipError('HUB_INTEGRITY', `${file}: downloaded content has checksum ${digest} but the hub announced ${etag}; the partial file was removed, try again`);
  }
}

/** Downloads into blobs/<etag>.incomplete (resuming what is there), verifies, renames atomically. */
async function downloadBlob(meta: RemoteMeta, file: string, blobPath: string, options: HubOptions): Promise<void> {
  const partial = `${blobPath}.incomplete`;
  let offset = fs.existsSync(partial) ? fs.statSync(partial).size : 0;
  if (meta.size !== undefined && offset > meta.size) {
    fs.rmSync(partial, { force: true });
    offset = 0;
  }
  const h = headers(options);
  if (offset > 0) h.range = `bytes=${offset}-`;
  let res: Response;
  try {
    res = await fetch(meta.url, { headers: h, redirect: 'follow' });
  } catch (err) {
    throw new XClipError('HUB_DOWNLOAD_FAILED', `Cannot download ${file}: ${(err as Error).message}`);
  }
  if (res.status === 416 && meta.size !== undefined && offset === meta.size) {
    // Already complete: fall through to verification.
  } else if (res.status >= 400) {
    throw hubError(res.status, '', file, '');
  } else {
    if (offset > 0 && res.status !== 206) offset = 0;  // the server ignored Range: start over
    const out = fs.createWriteStream(partial, { flags: offset > 0 ? 'a' : 'w' });
    let loaded = offset;
    try {
      if (!res.body) throw new Error('empty response body');
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
        loaded += chunk.length;
        options.onProgress?.({ file, loaded, total: meta.size });
      }
    } catch (err) {
      await new Promise<void>((r) => out.end(() => r()));
      throw new XClipError('HUB_DOWNLOAD_FAILED', `Download of ${file} was interrupted at ${loaded} bytes (${(err as Error).message}); run again to resume`);
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
  try {
    await verify(file, partial, meta.etag);
  } catch (err) {
    fs.rmSync(partial, { force: true });
    throw err;
  }
  fs.renameSync(partial, blobPath);
}

async function fetchFile(repoId: string, repoDir: string, revision: string, file: string, options: HubOptions): Promise<string | undefined> {
  const meta = await remoteMeta(repoId, revision, file, options);
  if (!meta) return undefined;
  const blobs = path.join(repoDir, 'blobs');
  const snapshot = path.join(repoDir, 'snapshots', meta.commit);
  fs.mkdirSync(blobs, { recursive: true });
  fs.mkdirSync(path.dirname(path.join(snapshot, file)), { recursive: true });
  const blobPath = path.join(blobs, meta.etag);
  if (!fs.existsSync(blobPath)) await downloadBlob(meta, file, blobPath, options);
  const link = path.join(snapshot, file);
  if (!fs.existsSync(link)) {
    const tmp = `${link}.${process.pid}.tmp`;
    fs.rmSync(tmp, { force: true });
    fs.symlinkSync(path.relative(path.dirname(link), blobPath), tmp);
    fs.renameSync(tmp, link);
  }
  if (!COMMIT.test(revision)) {
    fs.mkdirSync(path.join(repoDir, 'refs'), { recursive: true });
    const ref = path.join(repoDir, 'refs', revision);
    fs.writeFileSync(`${ref}.tmp`, meta.commit);
    fs.renameSync(`${ref}.tmp`, ref);
  }
  return link;
}

/**
 * Returns a local directory holding the model's files: `idOrDir` itself when it is a directory, else the cached
 * snapshot of the hub repo, downloading what is missing (unless offline).
 * @example
 * const dir = await resolveModelDir('microsoft/xclip-base-patch32');
 * const model = await XCLIPModel.fromPretrained(dir);
 */
export async function resolveModelDir(idOrDir: string, options: HubOptions = {}): Promise<string> {
  if (fs.existsSync(idOrDir) && fs.statSync(idOrDir).isDirectory()) return idOrDir;
  if (!isRepoId(idOrDir)) {
    throw new XClipError('FILE_NOT_FOUND', `${idOrDir} is neither a model directory nor a hub id like "org/name"`);
  }
  const revision = options.revision ?? 'main';
  const repoDir = repoFolder(hubCacheDir(options.cacheDir), idOrDir);
  if (isOffline(options)) {
    const dir = snapshotDirOf(repoDir, revision);
    const hasWeights = dir && WEIGHT_CHOICES.some((f) => fs.existsSync(path.join(dir, f)));
    if (!dir || !hasWeights) {
      throw new XClipError('HUB_OFFLINE', `${idOrDir} (revision ${revision}) is not in the cache at ${repoDir} and offline mode forbids downloading it`);
    }
    return dir;
  }
  let snapshot: string | undefined;
  for (const file of REQUIRED_FILES) {
    const p = await fetchFile(idOrDir, repoDir, revision, file, options);
    if (!p) throw new XClipError('HUB_NOT_FOUND', `${idOrDir} has no ${file} at revision ${revision}; is it a model repository?`);
    snapshot = path.dirname(p);
  }
  let weights = false;
  for (const file of WEIGHT_CHOICES) {
    const p = await fetchFile(idOrDir, repoDir, revision, file, options);
    if (!p) continue;
    weights = true;
    if (file.endsWith('.index.json')) {
      const index = JSON.parse(fs.readFileSync(p, 'utf8')) as { weight_map?: Record<string, string> };
      for (const shard of new Set(Object.values(index.weight_map ?? {}))) {
        if (!(await fetchFile(idOrDir, repoDir, revision, shard, options))) {
          throw new XClipError('HUB_NOT_FOUND', `${idOrDir}: shard ${shard} listed in ${file} is missing`);
        }
      }
    }
    break;
  }
  if (!weights) throw new XClipError('HUB_NOT_FOUND', `${idOrDir} has no weights (${WEIGHT_CHOICES.join(', ')}) at revision ${revision}`);
  for (const file of OPTIONAL_FILES) await fetchFile(idOrDir, repoDir, revision, file, options);
  return snapshot as string;
}
