/**
 * `xclip-node score`: X-CLIP's logits_per_video for every (video, text) pair, one record per file.
 * @module
 * @internal
 */
import type { FileRecord } from '../records';
import { flag } from './args';
import type { Command } from './command';
import { TEXT_OPTIONS, VIDEO_INPUT_OPTIONS, textList, videoFiles } from './inputs';
import { MODEL_OPTIONS, modelSettings } from './model';
import { type ModelReport, perFileCommand } from './perFile';

/** The JSON document `score --json` prints: `logits[j]` is the score of `texts[j]`. */
export interface ScoreReport extends ModelReport {
  texts: string[];
  results: FileRecord<{ logits: number[] }>[];
}

export const score: Command = {
  name: 'score',
  summary: "X-CLIP's score (logits_per_video) of every video against every text, e.g. to rank videos",
  usage: 'score <video|folder...> (--texts "a,b" | --texts-file FILE) [options]',
  options: [
    { name: 'texts', value: 'list', help: 'comma-separated texts' },
    { name: 'texts-file', value: 'file', help: 'texts, one per line' },
    ...TEXT_OPTIONS,
    { name: 'json', help: 'one JSON document: {"model", "demo", "texts", "results": [{"file", "logits"} | {"file", "error"}]}' },
    ...VIDEO_INPUT_OPTIONS,
    ...MODEL_OPTIONS,
  ],
  async run({ args, io }) {
    const texts = textList(args, 'texts', 'texts-file');
    modelSettings(args);
    const truncation = flag(args, 'truncate');
    return perFileCommand(args, io, videoFiles(args), {
      head: { texts },
      run: async (clf, file, signal) => (await clf.score([file], texts, { signal, truncation }))[0],
      result: (row) => ({ logits: Array.from(row) }),
      lines: (r) => r.logits.map((l, j) => `  ${l.toFixed(4)}  ${texts[j]}`),
    });
  },
};
