// Zero-shot classification of one video against free-text labels.
//   npx tsc -p examples && node dist-examples/examples/classify-video.js clip.mp4 "cooking,dancing,skiing" [model]
import { ZeroShotVideoClassifier } from '../lib';

async function main(): Promise<void> {
  const [video, labels = 'playing sports,eating spaghetti,go shopping', model = 'microsoft/xclip-base-patch32'] = process.argv.slice(2);
  if (!video) throw new Error('usage: classify-video <video> [comma-separated labels] [model id or directory]');
  const clf = await ZeroShotVideoClassifier.fromPretrained(model);
  try {
    const scores = await clf.classify(video, labels.split(','), { hypothesisTemplate: 'a video of {}' });
    for (const { label, score } of scores) console.log(`${score.toFixed(4)}  ${label}`);
  } finally {
    await clf.dispose();
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
