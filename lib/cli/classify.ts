/**
 * `xclip-node classify`: zero-shot classification of videos against labels, one record per file.
 * @module
 * @internal
 */
import type { LabelScore } from '../pipelines';
import type { FileRecord } from '../records';
import { type OptionSpec, type ParsedArgs, UsageError, flag, intOption, stringOption } from './args';
import type { Command } from './command';
import { TEXT_OPTIONS, VIDEO_INPUT_OPTIONS, textList, videoFiles } from './inputs';
import { MODEL_OPTIONS, modelSettings } from './model';
import { type ModelReport, perFileCommand } from './perFile';

/** The JSON document `classify --json` prints. */
export interface ClassifyReport extends ModelReport {
  results: FileRecord<{ scores: LabelScore[] }>[];
}

/** The label options of classify (and of `enqueue classify`). */
export const LABEL_OPTIONS: readonly OptionSpec[] = [
  { name: 'labels', value: 'list', help: 'comma-separated labels' },
  { name: 'labels-file', value: 'file', help: 'labels, one per line (labels may contain commas)' },
  { name: 'top-k', value: 'n', help: 'best n labels per video (default: all)' },
  { name: 'template', value: 'text', help: 'hypothesis template, {} marks the label (default "{}"), e.g. "a video of {}"' },
  ...TEXT_OPTIONS,
];

/** The labels and how they are scored, from the label options. */
export function labelSettings(args: ParsedArgs): { labels: string[]; topK: number | undefined; hypothesisTemplate: string | undefined; truncation: boolean } {
  const labels = textList(args, 'labels', 'labels-file');
  const topK = intOption(args, 'top-k', 1, labels.length);
  const template = stringOption(args, 'template');
  if (template !== undefined && !template.includes('{}')) throw new UsageError(`--template must contain {} where the label goes but received "${template}"`);
  return { labels, topK, hypothesisTemplate: template, truncation: flag(args, 'truncate') };
}

/** Human output of one video's scores. */
export function scoreLines(r: { scores: LabelScore[] }): string[] {
  return r.scores.map((s) => `  ${s.score.toFixed(4)}  ${s.label}`);
}

export const classify: Command = {
  name: 'classify',
  summary: 'zero-shot classification of videos against labels',
  usage: 'classify <video|folder...> (--labels "a,b,c" | --labels-file FILE) [options]',
  options: [
    ...LABEL_OPTIONS,
    { name: 'json', help: 'one JSON document: {"model", "demo", "results": [{"file", "scores"} | {"file", "error"}]}' },
    ...VIDEO_INPUT_OPTIONS,
    ...MODEL_OPTIONS,
  ],
  async run({ args, io }) {
    const { labels, ...options } = labelSettings(args);
    modelSettings(args);
    return perFileCommand(args, io, videoFiles(args), {
      run: (clf, file, signal) => clf.classify(file, labels, { ...options, signal }),
      result: (scores) => ({ scores }),
      lines: scoreLines,
    });
  },
};
