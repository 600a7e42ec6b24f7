// Model throughput at xclip-base-patch32 size (random weights from XCLIPModel.fromConfig: no download). Every
// figure is printed as throughput and as a ratio to this machine's GEMM peak measured in the same process, or to
// another figure of the same run: absolute times on shared machines are noise. FLOPs are counted analytically
// from the config (multiply-add = 2). Prints a table and, last, one JSON line.
//   npm run bench            (BENCH_QUICK=1 for fewer iterations)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

import {
  Tensor,
  XCLIPConfig,
  XCLIPModel,
  XCLIPProcessor,
  ZeroShotVideoClassifier,
  ensureDemoModel,
  getNumThreads,
  measureGemmPeak,
  readVideo,
  setKernelBackend,
  setNumThreads,
  type ProcessorEncodeOptions,
  type ProcessorOutput,
  type VideoInput,
} from '../lib';
import { binding } from '../lib/native';
import { SlotArena } from '../lib/slotArena';
import { isFrameList } from '../lib/video';
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
/** The preparation comparison: the frames path (before) and prepare (after), from the same run. */
const prep: { name: string; before: string; after: string; ratio: string }[] = [];

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

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/**
 * The preparation path before prepare existed, kept as the same-run baseline: frames come back to JS (readVideo),
 * are preprocessed by a second native call into a buffer of their own, and the classifier copies that into its
 * batch (it ignores the batch slot it is offered).
 */
class FramesPathProcessor extends XCLIPProcessor {
  override async encode(options: ProcessorEncodeOptions): Promise<ProcessorOutput> {
    const { videos, out: _slot, decodeThreads, ...rest } = options;
    const list = (isFrameList(videos) || !Array.isArray(videos) ? [videos] : videos) as VideoInput[];
    const frames = await Promise.all(
      list.map(async (v) => (isFrameList(v) ? v : (await readVideo(v, { numFrames: this.numFrames, threads: decodeThreads })).frames)),
    );
    return super.encode({ ...rest, videos: frames });
  }
}

type PrepFigures = { cpuPerVideo: number; peakMiB: number; gcCount: number; gcMs: number };

/**
 * Prepares `n` videos one after another with `prepareOne` and reports the CPU per video, the most JS-held memory
 * (V8 heap plus external and ArrayBuffer memory, sampled after each video) above where the loop started, and the
 * garbage collections it caused (count and total pause).
 */
async function preparationFigures(n: number, prepareOne: (i: number) => Promise<unknown>): Promise<PrepFigures> {
  await prepareOne(0); // warm-up: decoder and allocator caches
  gc();
  await new Promise((r) => setImmediate(r));
  let gcCount = 0;
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcCount++;
      gcMs += e.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const held = (): number => {
    const m = process.memoryUsage();
    return m.heapUsed + m.external; // external includes ArrayBuffers and the addon's external buffers
  };
  const m0 = held();
  let peak = 0;
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    await prepareOne(i);
    peak = Math.max(peak, held() - m0);
  }
  const c = process.cpuUsage(c0);
  await new Promise((r) => setTimeout(r, 50)); // GC entries are delivered asynchronously
  observer.disconnect();
  return { cpuPerVideo: (c.user + c.system) / 1e6 / n, peakMiB: peak / 2 ** 20, gcCount, gcMs };
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

/** The README's ratio table: key, figure, format, target (in the README's order). */
const README_RATIOS: [string, string, (v: number) => string, string][] = [
  ['fp32_b8_of_peak', 'fp32 getVideoFeatures b8, share of fp32 GEMM peak', pct, '≥ 70%'],
  ['fp32_b8_vs_libtorch_kernels', "fp32 b8 vs the same model on libtorch's own kernels", times, '(HF fp32 ≈ libtorch kernels)'],
  ['bf16_b8_of_peak', 'bf16 getVideoFeatures b8, share of bf16 GEMM peak', pct, '≥ 55%'],
  ['bf16_vs_fp32_b8', 'bf16 vs fp32, b8', times, ''],
  ['text_and_prompts_share_of_vision', 'forward 8×16: text tower + prompts, share of vision time', (v) => `${(100 * v).toFixed(1)}%`, '≤ 15%'],
  ['e2e_of_model_only', 'end-to-end classify of 8 files vs model only', pct, '≥ 85%'],
  ['e2e_stream_of_model_only', 'end-to-end, 32 files in one call vs model only', pct, ''],
  ['e2e_cpu_bound_ceiling', 'CPU-bound ceiling for end to end: model CPU / (model + decode + preprocess CPU)', pct, ''],
  ['concurrent32_of_batch8', '32 concurrent single-video calls vs one 8-file call', pct, '≥ 90%'],
  ['load_vs_read_once', 'load time vs reading the file once', (v) => `${v.toFixed(2)}×`, '≤ 2×'],
  ['load_rss_over_weights_mib', "RSS added by load + first call, minus the weights' file size", (v) => `${v >= 0 ? '+' : ''}${v.toFixed(0)} MiB`, '≤ +300 MiB'],
];
function pct(v: number): string {
  return `${(100 * v).toFixed(0)}%`;
}
function times(v: number): string {
  return `${v.toFixed(2)}×`;
}

/** The README's Performance tables filled from this run, ready to paste (rerun on a quiet machine for the README). */
function printReadmeRows(machine: string): void {
  console.log('\nREADME rows (Performance), from this run:\n');
  console.log(machine);
  console.log('\n| figure | s/call | throughput | GFLOP/s | of peak | note |\n|---|---|---|---|---|---|');
  for (const r of rows) {
    const gf = r.flops ? r.flops / r.seconds / 1e9 : undefined;
    const name = r.name.startsWith('  ') ? `↳ ${r.name.trim()}` : r.name;
    const of = gf && r.peak ? `${((100 * gf) / r.peak).toFixed(0)}%` : '';
    console.log(`| ${name} | ${r.seconds.toFixed(3)} | ${(r.items / r.seconds).toFixed(2)} ${r.unit} | ${gf ? gf.toFixed(0) : ''} | ${of} | ${r.note ?? ''} |`);
  }
  console.log('\n| ratio (same run) | value | target (issue 7) |\n|---|---|---|');
  for (const [key, label, format, target] of README_RATIOS) {
    if (ratios[key] !== undefined) console.log(`| ${label} | ${format(ratios[key])} | ${target} |`);
  }
  if (prep.length > 0) {
    console.log('\n| preparing videos (same run) | frames path: readVideo + preprocess | prepare | prepare vs frames path |\n|---|---|---|---|');
    for (const p of prep) console.log(`| ${p.name} | ${p.before} | ${p.after} | ${p.ratio} |`);
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

    // ---- preparing videos: the frames path (before) vs prepare (after), same run ----
    // Both run one video at a time with the classifier's decoder threads; prepare writes into batch slots taken
    // around an arena of native memory as the classifier does, the frames path allocates frames and pixel values per video.
    const threadsPerVideo = clf.batching.decodeThreads;
    const numFrames = processor.numFrames;
    const arena = new SlotArena(processor.imageProcessor.pixelValuesLength(numFrames)!, clf.batching.maxBatch, 2);
    const runFramesPath = () =>
      preparationFigures(64, async (i) => {
        const { frames } = await readVideo(files[i % files.length], { numFrames, threads: threadsPerVideo });
        await processor.imageProcessor.preprocess([frames]);
      });
    const runPreparePath = () =>
      preparationFigures(64, async (i) => {
        const slot = arena.acquire()!;
        await processor.imageProcessor.prepare(files[i % files.length], { numFrames, threads: threadsPerVideo, out: slot.data });
        arena.release(slot);
      });
    // Alternated, the better of two rounds each, so a burst of load from elsewhere does not land on one path only.
    const better = (a: PrepFigures, b: PrepFigures): PrepFigures => (a.cpuPerVideo <= b.cpuPerVideo ? a : b);
    const f1 = await runFramesPath();
    const p1 = await runPreparePath();
    const framesPath = better(f1, await runFramesPath());
    const preparePath = better(p1, await runPreparePath());
    prep.push(
      { name: 'decode + preprocess, CPU per video', before: `${framesPath.cpuPerVideo.toFixed(3)} s`, after: `${preparePath.cpuPerVideo.toFixed(3)} s`, ratio: `${(preparePath.cpuPerVideo / framesPath.cpuPerVideo).toFixed(2)}×` },
      { name: 'most JS-held memory (heap + external buffers) while preparing 64 videos', before: `+${framesPath.peakMiB.toFixed(0)} MiB`, after: `+${preparePath.peakMiB.toFixed(0)} MiB`, ratio: '' },
      { name: 'garbage collections during 64 videos (total pause)', before: `${framesPath.gcCount} (${framesPath.gcMs.toFixed(1)} ms)`, after: `${preparePath.gcCount} (${preparePath.gcMs.toFixed(1)} ms)`, ratio: '' },
    );
    ratios.prepare_cpu_vs_frames_path = preparePath.cpuPerVideo / framesPath.cpuPerVideo;
    // End to end, 32 files in one call, each path against the model alone in the same run.
    const oldClf = new ZeroShotVideoClassifier(model, new FramesPathProcessor(processor.tokenizer, processor.imageProcessor, processor.numFrames));
    await oldClf.classify(files.slice(0, 1), LABELS);
    const tOld1 = await time(() => oldClf.classify(stream, LABELS), 1, 0);
    const tNew1 = await time(() => clf.classify(stream, LABELS), 1, 0);
    const tOld = Math.min(tOld1, await time(() => oldClf.classify(stream, LABELS), 1, 0));
    const tNew = Math.min(tNew1, await time(() => clf.classify(stream, LABELS), 1, 0));
    prep.push({
      name: 'classify 32 files in one call, end to end vs model only',
      before: `${((100 * 4 * tFC) / tOld).toFixed(0)}%`,
      after: `${((100 * 4 * tFC) / tNew).toFixed(0)}%`,
      ratio: `${(tOld / tNew).toFixed(2)}× the throughput`,
    });
    ratios.e2e_stream_frames_path_of_model_only = (4 * tFC) / tOld;
    ratios.e2e_stream_prepare_of_model_only = (4 * tFC) / tNew;
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
  if (prep.length > 0) {
    console.log('preparing videos: frames path (before) vs prepare (after)');
    for (const p of prep) console.log(`  ${p.name.padEnd(56)} ${p.before.padStart(14)} ${p.after.padStart(14)}  ${p.ratio}`);
  }
  console.log('ratios');
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${k.padEnd(40)} ${v.toFixed(3)}`);
  printReadmeRows(
    `One run on a ${env.cores}-CPU ${env.cpu} (${env.threads} threads; libtorch ${env.libtorch}; GEMM peak measured in the same run: fp32 ${peak32.gflops.toFixed(0)} GFLOP/s, bf16 ${peak16.gflops.toFixed(0)} GFLOP/s; load average ${os.loadavg()[0].toFixed(1)} at the end):`,
  );
  console.log(JSON.stringify({ env, peak: { float32: peak32, bfloat16: peak16 }, rows, ratios, prep }));
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
