// npm run bench:concurrency: in-process classify of the bench clips (bench/clips.ts) by K closed-loop callers, one
// clip per call, for K = 1..4 in one run: videos/s and latency p50/p99 against the single-call p50. It is the floor
// under `xclip-node serve`'s figures (README "Under load"): how many videos must be in flight for full throughput on
// this machine, and what tail that concurrency has before any HTTP, upload or queueing is added.
// Environment: BENCH_CONCURRENCY_S (seconds per K, default 30). Run it niced on a shared machine.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ZeroShotVideoClassifier } from '../lib';
import { LABELS, makeBaseModel, makeVideos } from './clips';

const SECONDS = Number(process.env.BENCH_CONCURRENCY_S ?? 30);
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-bench-concurrency-'));
  try {
    const clips = makeVideos(dir, 8);
    const modelDir = path.join(dir, 'model');
    await makeBaseModel(modelDir);
    const clf = await ZeroShotVideoClassifier.fromPretrained(modelDir);
    await clf.classify(clips.slice(0, 2), LABELS); // label features cached, allocator warm: as in a serving process
    console.log(`${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}; ${SECONDS} s per K, ${LABELS.length} labels`);
    console.log('   K  videos/s   p50 ms   p99 ms   p99 / single p50');
    let single = NaN;
    for (const k of [1, 2, 3, 4]) {
      const latencies: number[] = [];
      const end = performance.now() + SECONDS * 1000;
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: k }, async () => {
          while (performance.now() < end) {
            const t = performance.now();
            await clf.classify([clips[next++ % clips.length]], LABELS);
            latencies.push(performance.now() - t);
          }
        }),
      );
      const rate = latencies.length / ((performance.now() - t0) / 1000);
      if (k === 1) single = pct(latencies, 50);
      console.log(`${String(k).padStart(4)}  ${rate.toFixed(2).padStart(8)}  ${pct(latencies, 50).toFixed(0).padStart(7)}  ${pct(latencies, 99).toFixed(0).padStart(7)}  ${(pct(latencies, 99) / single).toFixed(2).padStart(8)}x`);
    }
    await clf.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
