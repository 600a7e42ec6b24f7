/**
 * The search commands of `xclip-node`: `index add`, `index info` and `search`. The CLI's parser hands each a
 * command line already split into positionals and flags.
 * @module
 */
import * as fs from 'node:fs';

import { VideoIndex } from './search/videoIndex';

/** What the CLI gives a command: its arguments and the errors that map to its exit codes. */
export interface CommandContext {
  positional: string[];
  flag(name: string): string | true | undefined;
  /** Bad usage (exit 2). */
  usage(message: string): Error;
  /** An input file is missing (exit 3). */
  missing(file: string): Error;
}

export interface Command {
  help: string;
  /** Flags that take a value. */
  valueFlags: readonly string[];
  run(ctx: CommandContext): Promise<number>;
}

function str(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.flag(name);
  return typeof v === 'string' ? v : undefined;
}

function db(ctx: CommandContext): string {
  const dir = str(ctx, 'db');
  if (!dir) throw ctx.usage('--db is required');
  return dir;
}

function positiveInt(ctx: CommandContext, name: string, fallback: number): number {
  const v = str(ctx, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw ctx.usage(`--${name} expects a positive integer but received "${v}"`);
  return Number(v);
}

function existingIndex(ctx: CommandContext): string {
  const dir = db(ctx);
  if (!fs.existsSync(dir)) throw ctx.missing(dir);
  return dir;
}

async function indexAdd(ctx: CommandContext): Promise<number> {
  const files = ctx.positional.slice(1);
  if (files.length === 0) throw ctx.usage('no video files given');
  const clip = str(ctx, 'clip-seconds');
  const clipSeconds = clip === undefined ? undefined : Number(clip);
  if (clipSeconds !== undefined && !(clipSeconds > 0 && Number.isFinite(clipSeconds))) {
    throw ctx.usage(`--clip-seconds expects a positive number but received "${clip}"`);
  }
  const stride = str(ctx, 'stride-seconds');
  const strideSeconds = stride === undefined ? undefined : Number(stride);
  if (strideSeconds !== undefined && !(strideSeconds > 0 && Number.isFinite(strideSeconds) && clipSeconds !== undefined)) {
    throw ctx.usage(`--stride-seconds expects a positive number, with --clip-seconds, but received "${stride}"`);
  }
  for (const f of files) if (!fs.existsSync(f)) throw ctx.missing(f);
  const index = await VideoIndex.open(db(ctx), { model: str(ctx, 'model') });
  try {
    const results = await index.add(files, {
      clipSeconds,
      strideSeconds,
      onProgress: (p) => process.stderr.write(`indexed ${p.done}/${p.total} ${p.source} (${p.entries} entries)\n`),
    });
    const failed = results.filter((r) => r.error);
    for (const r of failed) process.stderr.write(`xclip-node: ${r.source}: ${r.error?.message}\n`);
    process.stdout.write(`${results.length - failed.length} of ${results.length} videos indexed; ${index.size} entries in ${index.dir}\n`);
    return failed.length > 0 ? 1 : 0;
  } finally {
    await index.close();
  }
}

async function indexInfo(ctx: CommandContext): Promise<number> {
  const index = await VideoIndex.open(existingIndex(ctx));
  try {
    const i = await index.info();
    const json = ctx.flag('json') === true;
    if (json) {
      process.stdout.write(`${JSON.stringify(i)}\n`);
    } else {
      process.stdout.write(
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
    }
    return 0;
  } finally {
    await index.close();
  }
}

/** `xclip-node index add|info`. */
export const indexCommand: Command = {
  help: `Usage: xclip-node index add <video...> --db <dir> [--model <dir|id|demo>] [--clip-seconds <s> [--stride-seconds <s>]]
       xclip-node index info --db <dir> [--json]

Builds and inspects a text-to-video search index scored with X-CLIP's own logits.

Options:
  --db <dir>            the index directory (created by "index add" when missing)
  --model <dir|id|demo> model for a new index (default microsoft/xclip-base-patch32); an existing index
                        keeps the model it was built with and refuses another
  --clip-seconds <s>    one entry per segment of s seconds (default: one entry per video)
  --stride-seconds <s>  seconds between segment starts (default: the clip length; shorter: overlapping)
  --json                machine-readable info`,
  valueFlags: ['db', 'model', 'clip-seconds', 'stride-seconds'],
  run: async (ctx) => {
    const sub = ctx.positional[0];
    if (sub === 'add') return indexAdd(ctx);
    if (sub === 'info') return indexInfo(ctx);
    throw ctx.usage(sub === undefined ? 'index needs a subcommand: add or info' : `unknown index subcommand "${sub}"`);
  },
};

/** `xclip-node search "text" --db DIR`. */
export const searchCommand: Command = {
  help: `Usage: xclip-node search "<text>" --db <dir> [--k 10] [--candidates 200] [--json]

Options:
  --db <dir>            an index made by "xclip-node index add"
  --k <n>               results (default 10)
  --candidates <n>      nearest entries scored exactly by X-CLIP (default 200)
  --json                {"model", "query", "results": [{"file", "start", "end", "logit", "score"}]}`,
  valueFlags: ['db', 'k', 'candidates'],
  run: async (ctx) => {
    const query = ctx.positional.join(' ').trim();
    if (!query) throw ctx.usage('no search text given');
    const k = positiveInt(ctx, 'k', 10);
    const candidates = Math.max(k, positiveInt(ctx, 'candidates', 200));
    const index = await VideoIndex.open(existingIndex(ctx));
    try {
      const hits = await index.search(query, { k, candidates });
      if (ctx.flag('json') === true) {
        const results = hits.map((h) => ({ file: h.source, start: h.start, end: h.end, logit: h.logit, score: h.score }));
        process.stdout.write(`${JSON.stringify({ model: index.meta.model.id, query, results })}\n`);
      } else {
        hits.forEach((h, i) => {
          process.stdout.write(`${String(i + 1).padStart(3)}. ${h.logit.toFixed(4).padStart(9)}  ${h.source}  ${h.start.toFixed(1)}-${h.end.toFixed(1)}s\n`);
        });
      }
      return 0;
    } finally {
      await index.close();
    }
  },
};
