/**
 * `xclip-node index add|info`: builds and inspects a text-to-video search index (VideoIndex).
 * @module
 * @internal
 */
import * as fs from 'node:fs';

import { VideoIndex } from '../search/videoIndex';
import { type ParsedArgs, UsageError, flag, stringOption } from './args';
import type { Command } from './command';
import { CliError, type CliIo, EXIT_FAILED, EXIT_MISSING_INPUT, EXIT_OK } from './io';
import { MODEL_OPTIONS, openModel } from './model';

/** --db, which must name an existing index unless `create`. */
export function dbOption(args: ParsedArgs, create = false): string {
  const db = stringOption(args, 'db');
  if (!db) throw new UsageError('--db is required');
  if (!create && !fs.existsSync(db)) throw new CliError(`no index at ${db}`, EXIT_MISSING_INPUT, { code: 'FILE_NOT_FOUND' });
  return db;
}

/** A positive number of seconds, or undefined when absent. */
export function secondsOption(args: ParsedArgs, name: string): number | undefined {
  const v = stringOption(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0 && Number.isFinite(n))) throw new UsageError(`--${name} expects a positive number of seconds but received "${v}"`);
  return n;
}

async function add(args: ParsedArgs, io: CliIo): Promise<number> {
  const files = args.positional.slice(1);
  if (files.length === 0) throw new UsageError('no video files given');
  const clipSeconds = secondsOption(args, 'clip-seconds');
  const strideSeconds = secondsOption(args, 'stride-seconds');
  if (strideSeconds !== undefined && clipSeconds === undefined) throw new UsageError('--stride-seconds needs --clip-seconds');
  for (const f of files) if (!fs.existsSync(f)) throw new CliError(`video not found: ${f}`, EXIT_MISSING_INPUT, { code: 'FILE_NOT_FOUND' });
  const db = dbOption(args, true);
  // A new index needs a model (the default one unless --model); an existing one loads its own unless told.
  const opened = stringOption(args, 'model') !== undefined || !fs.existsSync(db) ? await openModel(args, io) : undefined;
  let index: VideoIndex;
  try {
    index = await VideoIndex.open(db, opened ? { model: opened.clf, modelId: opened.model.id } : {});
  } catch (err) {
    await opened?.clf.dispose();
    throw err;
  }
  try {
    const tick = io.progress('indexing', files.length);
    const results = await index.add(files, { clipSeconds, strideSeconds, onProgress: (p) => tick(p.done) });
    const failed = results.filter((r) => r.error);
    for (const r of failed) io.error(new CliError(`${r.source}: ${r.error?.message}`, EXIT_FAILED, { code: (r.error as { code?: string }).code }), false);
    io.out(`${results.length - failed.length} of ${results.length} videos indexed; ${index.size} entries in ${index.dir}\n`);
    return failed.length > 0 ? EXIT_FAILED : EXIT_OK;
  } finally {
    await index.close();
    await opened?.clf.dispose();
  }
}

async function info(args: ParsedArgs, io: CliIo): Promise<number> {
  const index = await VideoIndex.open(dbOption(args));
  try {
    const i = await index.info();
    if (flag(args, 'json')) {
      io.out(`${JSON.stringify(i)}\n`);
      return EXIT_OK;
    }
    io.out(
      [
        `index      ${i.dir}`,
        `model      ${i.model.id} (config ${i.model.configHash.slice(0, 12)})`,
        `entries    ${i.entries} from ${i.sources} videos`,
        `features   ${index.meta.numPatches} x ${index.meta.projectionDim} ${i.featureDtype} per entry`,
        `disk       ${(i.bytes / 1e6).toFixed(1)} MB (${Math.round(i.bytesPerEntry)} bytes per entry)`,
        `stage 1    ${i.annIndexed > 0 ? `IVF-PQ over ${i.annIndexed} entries` : 'exact scan'}`,
        '',
      ].join('\n'),
    );
    return EXIT_OK;
  } finally {
    await index.close();
  }
}

export const indexCommand: Command = {
  name: 'index',
  summary: 'text-to-video search index: "index add <video...>" adds videos, "index info" describes it',
  usage: 'index add <video...> --db DIR [--model ID|DIR|demo] [--clip-seconds S [--stride-seconds S]] | index info --db DIR [--json]',
  options: [
    { name: 'db', value: 'dir', help: 'the index directory (index add creates it)' },
    { name: 'clip-seconds', value: 's', help: 'one entry per segment of s seconds (default: one per video)' },
    { name: 'stride-seconds', value: 's', help: 'seconds between segment starts (default: the segment length)' },
    { name: 'json', help: 'index info as JSON' },
    ...MODEL_OPTIONS.filter((o) => o.name !== 'device'),
  ],
  async run({ args, io }) {
    const sub = args.positional[0];
    if (sub === 'add') return add(args, io);
    if (sub === 'info') return info(args, io);
    throw new UsageError(sub === undefined ? 'index needs a subcommand: add or info' : `unknown index subcommand "${sub}"`);
  },
};
