/**
 * `xclip-node embed`: one video embedding per line (JSONL), one record per file.
 * @module
 * @internal
 */
import * as fs from 'node:fs';

import { flag, stringOption } from './args';
import type { Command } from './command';
import { VIDEO_INPUT_OPTIONS, videoFiles } from './inputs';
import { EXIT_FAILED, EXIT_OK } from './io';
import { MODEL_OPTIONS, modelSettings, openModel } from './model';
import { reportFailures, runPerFile } from './perFile';

export const embed: Command = {
  name: 'embed',
  summary: 'write one video embedding per line (JSONL)',
  usage: 'embed <video|folder...> [--out FILE.jsonl] [options]',
  options: [
    { name: 'out', value: 'file', help: 'JSONL output (default stdout): {"file", "embedding": [...]} or {"file", "error"} per video' },
    ...VIDEO_INPUT_OPTIONS,
    ...MODEL_OPTIONS,
  ],
  async run({ args, io }) {
    const out = stringOption(args, 'out');
    modelSettings(args);
    const files = videoFiles(args);
    const { clf, model } = await openModel(args, io);
    const fd = out === undefined ? undefined : fs.openSync(out, 'w');
    const write = (line: string): void => {
      if (fd === undefined) io.out(line);
      else fs.writeSync(fd, line);
    };
    try {
      const tick = io.progress(model.demo ? 'embedding (demo model)' : 'embedding', files.length);
      const failed = await runPerFile(
        files,
        async (file, signal) => (await clf.embedVideos([file], { signal }))[0],
        (embedding) => ({ embedding: Array.from(embedding) }),
        (record, i) => {
          write(`${JSON.stringify(record)}\n`);
          tick(i + 1);
        },
        flag(args, 'fail-fast'),
      );
      reportFailures(io, failed, files.length);
      return failed > 0 ? EXIT_FAILED : EXIT_OK;
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
      await clf.dispose();
    }
  },
};
