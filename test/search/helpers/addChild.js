// Child process of the persistence test: adds many videos (the fixture files' bytes under distinct names) and
// prints "done <source> <entries>" once add reports each as committed, until the parent kills it.
const fs = require('fs');
const { VideoIndex } = require(process.argv[2]);
const [, , , dir, model, ...videos] = process.argv;
(async () => {
  const index = await VideoIndex.open(dir, { model });
  const items = [];
  for (let i = 0; i < 400; i++) items.push({ source: `copy-${i}`, data: fs.readFileSync(videos[i % videos.length]) });
  process.stdout.write('started\n');
  await index.add(items, {
    clipSeconds: 0.5,
    onProgress: (p) => process.stdout.write(`done ${p.source} ${p.entries}\n`),
  });
  await index.close();
})().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
