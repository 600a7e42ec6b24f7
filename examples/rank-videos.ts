// Rank videos for a text query by cosine similarity of get_video_features and get_text_features.
//   node dist-examples/examples/rank-videos.js "a person cooking" a.mp4 b.mp4 c.webm [--model DIR]
import { ZeroShotVideoClassifier } from '../lib';

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const modelAt = args.indexOf('--model');
  const model = modelAt >= 0 ? args.splice(modelAt, 2)[1] : 'microsoft/xclip-base-patch32';
  const [query, ...videos] = args;
  if (!query || videos.length === 0) throw new Error('usage: rank-videos <query> <video...> [--model id|dir]');
  const clf = await ZeroShotVideoClassifier.fromPretrained(model);
  try {
    const [q] = await clf.embedTexts([query]);
    const embeds = await clf.embedVideos(videos);
    const ranked = videos.map((file, i) => ({ file, similarity: cosine(q, embeds[i]) })).sort((a, b) => b.similarity - a.similarity);
    for (const { file, similarity } of ranked) console.log(`${similarity.toFixed(4)}  ${file}`);
  } finally {
    await clf.dispose();
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
