// Embed every video in a folder into a JSONL file, with progress.
//   node dist-examples/examples/embed-folder.js ./videos out.jsonl [model]
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ZeroShotVideoClassifier } from '../lib';

const VIDEO = /\.(mp4|m4v|mov|mkv|webm|avi)$/i;

async function main(): Promise<void> {
  const [folder, out, model = 'microsoft/xclip-base-patch32'] = process.argv.slice(2);
  if (!folder || !out) throw new Error('usage: embed-folder <folder> <out.jsonl> [model id or directory]');
  const files = fs.readdirSync(folder).filter((f) => VIDEO.test(f)).map((f) => path.join(folder, f));
  const clf = await ZeroShotVideoClassifier.fromPretrained(model);
  const sink = fs.createWriteStream(out);
  const start = Date.now();
  try {
    // One call per file, all started at once: the classifier batches them (maxBatch videos per model call),
    // decodes the next files while a batch runs and holds only a few decoded videos at a time. A bad file fails
    // only its own call.
    const pending = files.map((f) => clf.embedVideos([f]).then(([e]) => e, (err: Error) => err));
    for (const [i, file] of files.entries()) {
      const r = await pending[i];
      if (r instanceof Error) console.error(`skipped ${file}: ${r.message}`);
      else sink.write(`${JSON.stringify({ file, embedding: Array.from(r) })}\n`);
      const rate = (i + 1) / ((Date.now() - start) / 1000);
      process.stderr.write(`\r${i + 1}/${files.length} videos, ${rate.toFixed(2)}/s, ETA ${((files.length - i - 1) / rate).toFixed(0)}s`);
    }
    process.stderr.write('\n');
  } finally {
    sink.end();
    await clf.dispose();
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
