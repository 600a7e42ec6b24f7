/**
 * `xclip-node embed-text`: one text embedding per line (JSONL).
 * @module
 * @internal
 */
import * as fs from 'node:fs';

import { type ParsedArgs, UsageError, flag, stringOption } from './args';
import type { Command } from './command';
import { TEXT_OPTIONS, textList } from './inputs';
import { EXIT_OK } from './io';
import { MODEL_OPTIONS, modelSettings, openModel } from './model';

/** One line of embed-text's JSONL. */
export function textEmbeddingLine(text: string, embedding: ArrayLike<number>): string {
  return `${JSON.stringify({ text, embedding: Array.from(embedding) })}\n`;
}

/** The texts: the positional arguments, or `--texts-file`'s lines. */
export function textArgs(args: ParsedArgs): string[] {
  if (stringOption(args, 'texts-file') !== undefined) {
    if (args.positional.length > 0) throw new UsageError('give texts as arguments or --texts-file, not both');
    return textList(args, 'texts', 'texts-file');
  }
  if (args.positional.length === 0) throw new UsageError('no texts given');
  return args.positional;
}

export const embedText: Command = {
  name: 'embed-text',
  summary: 'write one text embedding per line (JSONL)',
  usage: 'embed-text <text...> | --texts-file FILE [--out FILE.jsonl] [options]',
  options: [
    { name: 'texts-file', value: 'file', help: 'texts, one per line (instead of arguments)' },
    { name: 'out', value: 'file', help: 'JSONL output (default stdout): {"text", "embedding": [...]} per text' },
    ...TEXT_OPTIONS,
    ...MODEL_OPTIONS.filter((o) => o.name !== 'batch'),
  ],
  async run({ args, io }) {
    const texts = textArgs(args);
    const out = stringOption(args, 'out');
    modelSettings(args);
    const { clf } = await openModel(args, io);
    try {
      let embeddings: Float32Array[];
      try {
        embeddings = await clf.embedTexts(texts, { truncation: flag(args, 'truncate') });
      } catch (err) {
        if (err instanceof TypeError || err instanceof RangeError) throw new UsageError(err.message);
        throw err;
      }
      const lines = texts.map((text, i) => textEmbeddingLine(text, embeddings[i])).join('');
      if (out === undefined) io.out(lines);
      else fs.writeFileSync(out, lines);
      return EXIT_OK;
    } finally {
      await clf.dispose();
    }
  },
};
