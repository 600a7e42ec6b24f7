/**
 * What the commands read: video files (folders expanded), and label or text lists given inline or one per line in
 * a file. A missing input exits 3 before the model loads.
 * @module
 * @internal
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type OptionSpec, type ParsedArgs, UsageError, flag, stringOption } from './args';
import { CliError, EXIT_MISSING_INPUT } from './io';

/** The options of every command that reads video files. */
export const VIDEO_INPUT_OPTIONS: readonly OptionSpec[] = [
  { name: 'recursive', help: 'expand folders with their subfolders (default: only the videos directly inside)' },
  { name: 'fail-fast', help: 'stop at the first file that fails (default: every file gets a result or an error)' },
];

/** The options of every command that encodes texts. */
export const TEXT_OPTIONS: readonly OptionSpec[] = [
  { name: 'truncate', help: 'cut texts longer than the model takes (77 tokens) as transformers does, instead of failing' },
];

/** Extensions a folder's files must have to be taken as videos; files named one by one are never filtered. */
export const VIDEO_EXTENSIONS: ReadonlySet<string> = new Set([
  '.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi', '.mpg', '.mpeg', '.ts', '.m2ts', '.mts', '.wmv', '.flv', '.3gp', '.ogv', '.gif',
]);

function missing(what: string, file: string): CliError {
  return new CliError(`${what} not found: ${file}`, EXIT_MISSING_INPUT, { code: 'FILE_NOT_FOUND' });
}

/** The videos of a folder, sorted by path; hidden files and folders are skipped. */
function folderVideos(dir: string, recursive: boolean): string[] {
  const out: string[] = [];
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (recursive) out.push(...folderVideos(p, true));
    } else if (VIDEO_EXTENSIONS.has(path.extname(e.name).toLowerCase())) {
      out.push(p);
    }
  }
  return out;
}

/**
 * The video files the positional arguments name, in order: files as given, folders expanded to the videos in them
 * (with `--recursive`, in their subfolders too). No argument, or a folder without videos, is a usage error; a
 * missing path exits 3.
 */
export function videoFiles(args: ParsedArgs): string[] {
  if (args.positional.length === 0) throw new UsageError('no video files given');
  const recursive = flag(args, 'recursive');
  const files: string[] = [];
  for (const arg of args.positional) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(arg);
    } catch {
      throw missing('video', arg);
    }
    if (!stat.isDirectory()) {
      files.push(arg);
      continue;
    }
    const found = folderVideos(arg, recursive);
    if (found.length === 0) {
      throw new UsageError(`folder ${arg} holds no video files (${[...VIDEO_EXTENSIONS].join(' ')})${recursive ? '' : '; --recursive reads its subfolders'}`);
    }
    files.push(...found);
  }
  return files;
}

/**
 * A list of labels or texts from `--<inline>` (comma-separated) or `--<file>` (one per line, so items may contain
 * commas); exactly one of them is required.
 */
export function textList(args: ParsedArgs, inline: string, file: string): string[] {
  const given = stringOption(args, inline);
  const listFile = stringOption(args, file);
  if ((given === undefined) === (listFile === undefined)) throw new UsageError(`give --${inline} or --${file} (one of them)`);
  let items: string[];
  if (given !== undefined) {
    items = given.split(',');
  } else {
    let text: string;
    try {
      text = fs.readFileSync(listFile!, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw missing(`--${file}`, listFile!);
      throw new UsageError(`cannot read --${file} ${listFile}: ${(err as Error).message}`);
    }
    items = text.split(/\r?\n/);
  }
  const list = items.map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) throw new UsageError(`--${given !== undefined ? inline : file} holds no ${inline}`);
  return list;
}
