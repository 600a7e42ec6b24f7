// Rank videos for a text query by X-CLIP's own score (logits_per_video: the query conditioned on each video by the
// prompt generator). The plain cosine of embedTexts and embedVideos would leave that out and can order videos
// differently; it suits a CLIP-like index, not the model's ranking.
//   node dist-examples/examples/rank-videos.js "a person cooking" a.mp4 b.mp4 c.webm [--model DIR]
import { ZeroShotVideoClassifier } from '../lib';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const modelAt = args.indexOf('--model');
  const model = modelAt >= 0 ? args.splice(modelAt, 2)[1] : 'microsoft/xclip-base-patch32';
  const [query, ...videos] = args;
  if (!query || videos.length === 0) throw new Error('usage: rank-videos <query> <video...> [--model id|dir]');
  const clf = await ZeroShotVideoClassifier.fromPretrained(model);
  try {
    const rows = await clf.score(videos, [query]);
    const ranked = videos.map((file, i) => ({ file, logit: rows[i][0] })).sort((a, b) => b.logit - a.logit);
    for (const { file, logit } of ranked) console.log(`${logit.toFixed(4)}  ${file}`);
  } finally {
    await clf.dispose();
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
