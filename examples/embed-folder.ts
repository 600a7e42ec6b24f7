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
    for (let i = 0; i < files.length; i += 8) {
      const batch = files.slice(i, i + 8);
      // One bad file must not stop the folder: embed the batch, and on failure each file alone.
      const results = await clf.embedVideos(batch).catch(async () =>
        Promise.all(batch.map((f) => clf.embedVideos([f]).then(([e]) => e, (err: Error) => err))),
      );
      batch.forEach((file, j) => {
        const r = results[j];
        if (r instanceof Error) console.error(`skipped ${file}: ${r.message}`);
        else sink.write(`${JSON.stringify({ file, embedding: Array.from(r) })}\n`);
      });
      const done = Math.min(i + 8, files.length);
      const rate = done / ((Date.now() - start) / 1000);
      process.stderr.write(`\r${done}/${files.length} videos, ${rate.toFixed(2)}/s, ETA ${((files.length - done) / rate).toFixed(0)}s`);
    }
    process.stderr.write('\n');
  } finally {
    sink.end();
    clf.dispose();
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
