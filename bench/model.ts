// Model throughput at xclip-base-patch32 size (random weights from XCLIPModel.fromConfig: no download). Every
// figure is printed as throughput and as a ratio to this machine's GEMM peak measured in the same process, or to
// another figure of the same run: absolute times on shared machines are noise. FLOPs are counted analytically
// from the config (multiply-add = 2). Prints a table and, last, one JSON line.
//   npm run bench            (BENCH_QUICK=1 for fewer iterations)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  Tensor,
  XCLIPConfig,
  XCLIPModel,
  XCLIPProcessor,
  ZeroShotVideoClassifier,
  ensureDemoModel,
  getNumThreads,
  measureGemmPeak,
  setKernelBackend,
  setNumThreads,
} from '../lib';
import { binding } from '../lib/native';
import { makeVideos } from './clips';

const QUICK = process.env.BENCH_QUICK === '1';
const ITERS = QUICK ? 1 : 2;
const LABELS = [
  'playing guitar', 'cooking pasta', 'riding a bike', 'swimming', 'dancing salsa', 'typing on a laptop',
  'walking a dog', 'playing football', 'painting a wall', 'reading a book', 'driving a car', 'skiing',
  'making coffee', 'doing yoga', 'playing chess', 'washing dishes',
];

type Row = { name: string; seconds: number; items: number; unit: string; flops?: number; peak?: number; note?: string };
const rows: Row[] = [];
const ratios: Record<string, number> = {};

/** CPU seconds (all threads of this process) one call of `fn` takes. */
async function cpuSeconds(fn: () => Promise<unknown>): Promise<number> {
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

async function time(fn: () => Promise<unknown>, iters = ITERS, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9 / iters;
}

function pixels(videos: number, config: XCLIPConfig): Tensor<'float32'> {
  const v = config.visionConfig;
  const dims = [videos, v.numFrames, v.numChannels, v.imageSize, v.imageSize];
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  // Deterministic pseudo-random values in the normalised pixel range.
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s / 2 ** 32) * 4 - 2;
  }
  return new Tensor('float32', data, dims);
}

function textInputs(n: number, seq: number, vocab: number): { inputIds: Tensor<'int64'>; attentionMask: Tensor<'int64'> } {
  const ids = new BigInt64Array(n * seq);
  for (let i = 0; i < n; i++) {
    ids[i * seq] = 49406n;
    for (let j = 1; j < seq - 1; j++) ids[i * seq + j] = BigInt((i * 131 + j * 7919) % (vocab - 2));
    ids[i * seq + seq - 1] = BigInt(vocab - 1);
  }
  return { inputIds: new Tensor('int64', ids, [n, seq]), attentionMask: new Tensor('int64', new BigInt64Array(n * seq).fill(1n), [n, seq]) };
}

/**
 * Loads `dir` in a fresh process (addon already loaded, so libtorch's own start-up is not counted): load seconds,
 * the time of reading the weights file once, and the RSS added by loading plus one batch-1 call (which touches
 * every weight: safetensors are memory-mapped, so pages arrive on first use).
 */
function measureLoad(dir: string): { loadSeconds: number; firstCallSeconds: number; rssAddedBytes: number; readSeconds: number; fileBytes: number } {
  const file = path.join(dir, 'model.safetensors');
  const fileBytes = fs.statSync(file).size;
  const script = `
    const { XCLIPModel, Tensor, getNumThreads } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'index.js'))});
    const fs = require('fs');
    (async () => {
      getNumThreads();
      const buf = Buffer.allocUnsafe(64 << 20); const fd = fs.openSync(${JSON.stringify(file)}, 'r');
      let t0 = process.hrtime.bigint(); while (fs.readSync(fd, buf, 0, buf.length, null) > 0); fs.closeSync(fd);
      const readSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const px = new Tensor('float32', new Float32Array(8 * 3 * 224 * 224), [1, 8, 3, 224, 224]);
      const before = process.memoryUsage().rss;
      t0 = process.hrtime.bigint();
      const m = await XCLIPModel.fromPretrained(${JSON.stringify(dir)});
      const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      t0 = process.hrtime.bigint();
      await m.getVideoFeatures(px);
      const firstCallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      // VmHWM, not resourceUsage().maxRSS: Linux carries ru_maxrss across exec, so a child spawned by a big
      // parent would report the parent's peak.
      const peak = Number(/VmHWM:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
      m.dispose();
      console.log(JSON.stringify({ loadSeconds, firstCallSeconds, readSeconds, rssAddedBytes: peak - before }));
    })();`;
  const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`load child failed: ${out.stderr}`);
  return { ...JSON.parse(out.stdout.trim().split('\n').pop()!), fileBytes };
}

function print(): void {
  console.log(`${'figure'.padEnd(46)} ${'s/call'.padStart(8)} ${'throughput'.padStart(16)} ${'GFLOP/s'.padStart(8)} ${'of peak'.padStart(8)}  note`);
  for (const r of rows) {
    const gf = r.flops ? r.flops / r.seconds / 1e9 : undefined;
    const of = gf && r.peak ? `${((100 * gf) / r.peak).toFixed(0)}%` : '';
    const tp = `${(r.items / r.seconds).toFixed(2)} ${r.unit}`;
    console.log(`${r.name.padEnd(46)} ${r.seconds.toFixed(3).padStart(8)} ${tp.padStart(16)} ${(gf ? gf.toFixed(1) : '').padStart(8)} ${of.padStart(8)}  ${r.note ?? ''}`);
  }
}

async function main(): Promise<void> {
  const cpuFlags = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const env = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    threads: getNumThreads(),
    avx512_bf16: /\bavx512_bf16\b/.test(cpuFlags),
    ...binding().versions(),
  };
  console.log(`${env.cpu}, ${env.cores} CPUs, ${env.threads} threads, libtorch ${env.libtorch}, oneDNN kernels ${env.onednnKernels}, avx512_bf16 ${env.avx512_bf16}`);

  const peak32 = await measureGemmPeak('float32', 2);
  const peak16 = await measureGemmPeak('bfloat16', 2);
  console.log(`GEMM peak: float32 ${peak32.gflops.toFixed(1)} GFLOP/s, bfloat16 ${peak16.gflops.toFixed(1)} GFLOP/s (${peak32.backend})`);

  const config = new XCLIPConfig();
  const configJson = JSON.stringify(config.toJSON());
  const flops = (videos: number, texts: number, seq = 16) => binding().flops(configJson, videos, texts, seq);
  const px1 = pixels(1, config);
  const px8 = pixels(8, config);
  const texts = textInputs(16, 16, config.textConfig.vocabSize);

  // ---- float32 model ----
  const model = await XCLIPModel.fromConfig(config, { seed: 0 });
  const tV1 = await time(() => model.getVideoFeatures(px1), ITERS + 1);
  rows.push({ name: 'getVideoFeatures fp32, batch 1', seconds: tV1, items: 1, unit: 'videos/s', flops: flops(1, 0).videoFeatures, peak: peak32.gflops });
  const tV8 = await time(() => model.getVideoFeatures(px8));
  rows.push({ name: 'getVideoFeatures fp32, batch 8', seconds: tV8, items: 8, unit: 'videos/s', flops: flops(8, 0).videoFeatures, peak: peak32.gflops });
  setKernelBackend('aten');
  const tV8aten = await time(() => model.getVideoFeatures(px8), 1);
  setKernelBackend('auto');
  rows.push({ name: '  same, libtorch kernels only (baseline)', seconds: tV8aten, items: 8, unit: 'videos/s', flops: flops(8, 0).videoFeatures, peak: peak32.gflops });
  ratios.fp32_b8_of_peak = flops(8, 0).videoFeatures / tV8 / 1e9 / peak32.gflops;
  ratios.fp32_b8_vs_libtorch_kernels = tV8aten / tV8;

  const tT = await time(() => model.getTextFeatures(texts), ITERS + 1);
  rows.push({ name: 'getTextFeatures, 16 labels x 16 tokens', seconds: tT, items: 16, unit: 'texts/s', flops: flops(0, 16).textFeatures, peak: peak32.gflops });
  const tF = await time(() => model.forward({ ...texts, pixelValues: px8 }));
  rows.push({ name: 'forward, 8 videos x 16 labels', seconds: tF, items: 8, unit: 'videos/s', flops: flops(8, 16).forward, peak: peak32.gflops });
  const textFeatures = await model.getTextFeatures(texts);
  const tFC = await time(() => model.forwardWithTextFeatures({ textFeatures, pixelValues: px8 }));
  rows.push({ name: '  same, label features cached', seconds: tFC, items: 8, unit: 'videos/s', flops: flops(8, 16).videoFeatures + flops(8, 16).prompts, peak: peak32.gflops });
  ratios.text_and_prompts_share_of_vision = (tF - tV8) / tV8;
  ratios.prompts_share_of_vision_cached_labels = (tFC - tV8) / tV8;

  // ---- end to end from files, float32 ----
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-bench-'));
  try {
    const files = makeVideos(dir, 8);
    const processor = await XCLIPProcessor.fromPretrained(await ensureDemoModel());
    const clf = new ZeroShotVideoClassifier(model, processor);
    await clf.classify(files.slice(0, 1), LABELS); // label features cached, as in a serving process
    const tE = await time(() => clf.classify(files, LABELS), ITERS, 0);
    rows.push({ name: 'classify 8 files x 16 labels (end to end)', seconds: tE, items: 8, unit: 'videos/s', note: 'decode + preprocess + model' });
    ratios.e2e_of_model_only = tFC / tE;
    // Steady state: one call of 32 files keeps the pipeline full (the next batch decodes while one runs), where a
    // call of 8 starts and ends with the model or the decoders alone.
    const stream = Array.from({ length: 32 }, (_, i) => files[i % files.length]);
    const tS = await time(() => clf.classify(stream, LABELS), 1, 0);
    rows.push({ name: 'classify 32 files x 16 labels in one call', seconds: tS, items: 32, unit: 'videos/s', note: 'pipeline kept full' });
    ratios.e2e_stream_of_model_only = (4 * tFC) / tS;
    // Where the rest goes: decoding and preprocessing share the cores with the model. Where the model keeps every
    // core busy, end to end cannot beat model CPU / (model CPU + preparation CPU) whatever the scheduling; it can
    // only go above by filling the moments the model leaves a core idle (its utilisation is printed beside it).
    const prepCpu = (await cpuSeconds(async () => {
      for (const f of files) await processor.encode({ videos: [f], decodeThreads: clf.batching.decodeThreads });
    })) / files.length;
    const modelCpu = (await cpuSeconds(() => model.forwardWithTextFeatures({ textFeatures, pixelValues: px8 }))) / 8;
    rows.push({
      name: '  decode + preprocess, CPU per video',
      seconds: prepCpu,
      items: 1,
      unit: 'videos/CPU-s',
      note: `${((100 * prepCpu) / modelCpu).toFixed(0)}% of the model's CPU time per video (decodeThreads ${clf.batching.decodeThreads}); the model keeps ${((100 * modelCpu * 8) / tFC / os.cpus().length).toFixed(0)}% of the ${os.cpus().length} CPUs busy`,
    });
    ratios.e2e_cpu_bound_ceiling = modelCpu / (modelCpu + prepCpu);
    // The same pipeline where decoding has a core of its own (as on a machine with more cores than inference
    // threads, or with the model on a GPU): the model on one thread, both figures in that setting.
    const threads = getNumThreads();
    if (threads > 1) {
      setNumThreads(threads - 1);
      try {
        const tM1 = await time(() => model.forwardWithTextFeatures({ textFeatures, pixelValues: px8 }), 1);
        const spare = new ZeroShotVideoClassifier(model, processor);
        await spare.classify(files.slice(0, 1), LABELS);
        const tE1 = await time(() => spare.classify(files, LABELS), 1, 0);
        rows.push({ name: `classify 8 files, model on ${threads - 1} of ${threads} threads`, seconds: tE1, items: 8, unit: 'videos/s', note: `model alone ${(8 / tM1).toFixed(2)} videos/s in the same setting` });
        ratios.e2e_of_model_only_with_a_spare_core = tM1 / tE1;
      } finally {
        setNumThreads(threads);
      }
    }
    const calls = Array.from({ length: 32 }, (_, i) => files[i % files.length]);
    const tC = await time(() => Promise.all(calls.map((f) => clf.classify(f, LABELS))), 1, 0);
    rows.push({ name: '32 concurrent single-video classify calls', seconds: tC, items: 32, unit: 'videos/s', note: `batches formed: ${clf.stats.batches}` });
    ratios.concurrent32_of_batch8 = tE / 8 / (tC / 32);

    // ---- loading a saved base checkpoint ----
    const ckpt = path.join(dir, 'base');
    await model.savePretrained(ckpt);
    const load = measureLoad(ckpt);
    rows.push({ name: 'fromPretrained, base fp32 checkpoint', seconds: load.loadSeconds, items: load.fileBytes / 2 ** 20, unit: 'MiB/s', note: `read once ${load.readSeconds.toFixed(2)} s; first call ${load.firstCallSeconds.toFixed(2)} s; RSS +${(load.rssAddedBytes / 2 ** 20).toFixed(0)} MiB (load + first call) for ${(load.fileBytes / 2 ** 20).toFixed(0)} MiB of weights` });
    ratios.load_vs_read_once = load.loadSeconds / load.readSeconds;
    ratios.load_rss_over_weights_mib = (load.rssAddedBytes - load.fileBytes) / 2 ** 20;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  model.dispose();

  // ---- bfloat16 model ----
  const m16 = await XCLIPModel.fromConfig(config, { seed: 0, dtype: 'bfloat16' });
  const tB8 = await time(() => m16.getVideoFeatures(px8));
  rows.push({ name: 'getVideoFeatures bf16, batch 8', seconds: tB8, items: 8, unit: 'videos/s', flops: flops(8, 0).videoFeatures, peak: peak16.gflops });
  ratios.bf16_b8_of_peak = flops(8, 0).videoFeatures / tB8 / 1e9 / peak16.gflops;
  ratios.bf16_vs_fp32_b8 = tV8 / tB8;
  m16.dispose();

  print();
  console.log('ratios');
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${k.padEnd(40)} ${v.toFixed(3)}`);
  console.log(JSON.stringify({ env, peak: { float32: peak32, bfloat16: peak16 }, rows, ratios }));
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
