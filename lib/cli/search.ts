/**
 * `xclip-node search "text" --db DIR`: the best matches of an index by X-CLIP's own logits.
 * @module
 * @internal
 */
import { VideoIndex } from '../search/videoIndex';
import { flag, intOption } from './args';
import type { Command } from './command';
import { UsageError } from './args';
import { EXIT_OK } from './io';
import { dbOption } from './indexCommand';

export const search: Command = {
  name: 'search',
  summary: "an index's best matches for a text, by X-CLIP's own scores",
  usage: 'search "text" --db DIR [--k 10] [--candidates 200] [--json]',
  options: [
    { name: 'db', value: 'dir', help: 'an index made by "xclip-node index add"' },
    { name: 'k', value: 'n', help: 'results (default 10)' },
    { name: 'candidates', value: 'n', help: 'nearest entries scored exactly by X-CLIP (default 200)' },
    { name: 'json', help: '{"model", "query", "results": [{"file", "start", "end", "logit", "score"}]}' },
  ],
  async run({ args, io }) {
    const query = args.positional.join(' ').trim();
    if (!query) throw new UsageError('no search text given');
    const k = intOption(args, 'k', 1, 10000) ?? 10;
    const candidates = Math.max(k, intOption(args, 'candidates', 1, 100000) ?? 200);
    const index = await VideoIndex.open(dbOption(args));
    try {
      const hits = await index.search(query, { k, candidates });
      if (flag(args, 'json')) {
        const results = hits.map((h) => ({ file: h.source, start: h.start, end: h.end, logit: h.logit, score: h.score }));
        io.out(`${JSON.stringify({ model: index.meta.model.id, query, results })}\n`);
      } else {
        hits.forEach((h, i) => io.out(`${String(i + 1).padStart(3)}. ${h.logit.toFixed(4).padStart(9)}  ${h.source}  ${h.start.toFixed(1)}-${h.end.toFixed(1)}s\n`));
      }
      return EXIT_OK;
    } finally {
      await index.close();
    }
  },
};
