/**
 * `xclip-node embed-text`: one text embedding per line (JSONL).
 * @module
 * @internal
 */
import * as fs from 'node:fs';

import { UsageError, flag, stringOption } from './args';
import type { Command } from './command';
import { TEXT_OPTIONS, textList } from './inputs';
import { EXIT_OK } from './io';
import { MODEL_OPTIONS, modelSettings, openModel } from './model';

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
    let texts: string[];
    if (stringOption(args, 'texts-file') !== undefined) {
      if (args.positional.length > 0) throw new UsageError('give texts as arguments or --texts-file, not both');
      texts = textList(args, 'texts', 'texts-file');
    } else {
      texts = args.positional;
      if (texts.length === 0) throw new UsageError('no texts given');
    }
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
      const lines = texts.map((text, i) => `${JSON.stringify({ text, embedding: Array.from(embeddings[i]) })}\n`).join('');
      if (out === undefined) io.out(lines);
      else fs.writeFileSync(out, lines);
      return EXIT_OK;
    } finally {
      await clf.dispose();
    }
  },
};
