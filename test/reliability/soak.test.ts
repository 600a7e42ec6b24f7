// Soak: thousands of calls through the public API (decode, preprocess, tokenize, run the fixture models), good and
// bad inputs interleaved, with resident memory and open file descriptors measured after a warm-up and held within
// fixed bounds. A leak of a few KB per call, or one fd per failed open, shows up as steady growth.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';
import { CLIPTokenizer, probeVideo, readVideo, Tensor, XClipError, XCLIPModel, XCLIPProcessor } from '../../lib';
import { fixturesDir, input, loadCase, modelDir } from '../helpers/fixtures';

// Each round makes 14 calls (16 every 10th); 240 rounds after a 40-round warm-up: 3,408 measured calls (~25 s on
// 2 cores). RSS grows while allocators and V8 warm up and then stays flat: 960 rounds grew 2.7 MB in their second half.
const ROUNDS = Number(process.env.XCLIP_SOAK_ROUNDS ?? 240);
const WARMUP = 40;
const MAX_RSS_GROWTH_MB = 64;  // end vs. baseline, after GC
const MAX_LATE_GROWTH_MB = 24;  // end vs. half-way: a leak keeps growing, allocator warm-up does not
const MAX_FD_GROWTH = 2;

const openFds = (): number => fs.readdirSync('/proc/self/fd').length;
const rssMB = (): number => process.memoryUsage().rss / 2 ** 20;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
// External buffers are released only when the event loop turns (their finalizers run there; a synchronous loop
// keeps every one alive): collect, then let the loop turn so the finalizers run.
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function rejects(p: Promise<unknown>, check: (e: unknown) => boolean, what: string): Promise<void> {
  const outcome = await p.then(
    () => 'resolved',
    (e: unknown) => (check(e) ? 'ok' : `rejected with ${String(e)}`),
  );
  if (outcome !== 'ok') throw new Error(`${what}: expected a rejection, ${outcome}`);
}
const code = (c: string) => (e: unknown) => e instanceof XClipError && e.code === c;
const videoCode = (e: unknown) => e instanceof XClipError && e.code.startsWith('VIDEO_');

describe('soak', () => {
  it(`${ROUNDS} rounds of mixed good and bad calls keep RSS and open fds bounded`, async () => {
    const fx = fixturesDir();
    const e2e = path.join(fx, 'e2e', 'xclip-e2e-a');
    const videos = ['h264_320x240_30fps.mp4', 'vp9_176x144_25fps.webm', 'mpeg4_160x120_24fps.avi', 'mjpeg_144x256_portrait.mov', 'vfr_h264_192x108.mp4'].map((n) => path.join(fx, 'videos', n));
    const videoBytes = videos.map((p) => fs.readFileSync(p));
    const broken = ['broken_empty.mp4', 'broken_random_bytes.mp4', 'audio_only.mp4'].map((n) => path.join(fx, 'videos', n));
    const randomBytes = fs.readFileSync(path.join(fx, 'videos', 'broken_random_bytes.mp4'));
    const badDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-soak-'));
    fs.writeFileSync(path.join(badDir, 'config.json'), '{"projection_dim": "wide"}');
    fs.writeFileSync(path.join(badDir, 'vocab.json'), '{"a": 0,');
    fs.writeFileSync(path.join(badDir, 'merges.txt'), '#version: 0.2\n');

    const [model, tiny, processor] = await Promise.all([XCLIPModel.fromPretrained(e2e), XCLIPModel.fromPretrained(modelDir('xclip-tiny3')), XCLIPProcessor.fromPretrained(e2e)]);
    const tok = processor.tokenizer;
    const tinyCase = loadCase('xclip-tiny3', 'forward_full');
    const tinyInputs = { inputIds: input(tinyCase, 'inputs.input_ids'), attentionMask: input(tinyCase, 'inputs.attention_mask'), pixelValues: input<'float32'>(tinyCase, 'inputs.pixel_values') };
    const nanPixels = new Tensor('float32', new Float32Array(tinyInputs.pixelValues.data.length).fill(Number.NaN), tinyInputs.pixelValues.dims);
    const labels = ['playing sports', 'eating spaghetti', 'go shopping', "a dog's (very) LOUD bark!"];

    let calls = 0;
    let good = 0;
    let bad = 0;
    const round = async (r: number): Promise<void> => {
      const v = r % videos.length;
      // Decoding: a path, the same file from memory, a broken file, garbage bytes from memory.
      const [fromPath, fromBuffer] = await Promise.all([
        readVideo(videos[v], { numFrames: 8 }),
        readVideo(videoBytes[(v + 1) % videos.length], { numFrames: 8 }),
        rejects(readVideo(broken[r % broken.length]), videoCode, 'broken video'),
        rejects(probeVideo(randomBytes), code('VIDEO_OPEN_FAILED'), 'random bytes'),
      ]);
      expect(fromPath.frames).toHaveLength(8);
      expect(fromBuffer.frames).toHaveLength(8);
      // Tokenizer: a batch, an id outside the vocabulary.
      const text = tok.batchEncode(labels);
      expect(text.inputIds.dims[0]).toBe(labels.length);
      expect(() => tok.decode([-1 - r])).toThrow(XClipError);
      // Preprocessing and the e2e model (real vocabulary, 224 px, 8 frames).
      const { pixelValues } = await processor.imageProcessor.preprocess([fromPath.frames]);
      const [features, out] = await Promise.all([model.getVideoFeatures(pixelValues), model.forward({ ...text, pixelValues })]);
      expect(features.dims).toEqual([1, 32]);
      expect(out.logitsPerVideo.dims).toEqual([1, labels.length]);
      await rejects(model.getTextFeatures({ inputIds: [[49406, 49408 + r, 49407]] }), (e) => e instanceof RangeError, 'id out of range');
      // The tiny model: fixture inputs, then NaN pixels (refused by the core).
      const [tinyOut] = await Promise.all([tiny.forward(tinyInputs), rejects(tiny.getVideoFeatures(nanPixels), code('NON_FINITE_INPUT'), 'NaN pixels')]);
      expect(tinyOut.logitsPerVideo.dims).toEqual([2, 3]);
      calls += 14;
      good += 8;
      bad += 6;
      // Failed loads open and close files: every 10th round, a bad model folder and a bad tokenizer.
      if (r % 10 === 0) {
        await rejects(XCLIPModel.fromPretrained(badDir), code('CONFIG_INVALID'), 'bad config');
        await rejects(CLIPTokenizer.fromPretrained(badDir), code('TOKENIZER_ERROR'), 'bad vocab');
        calls += 2;
        bad += 2;
      }
    };

    for (let r = 0; r < WARMUP; r++) await round(r);
    await settle();
    const rss0 = rssMB();
    const fd0 = openFds();
    calls = good = bad = 0;
    let peak = rss0;
    let rssMid = rss0;
    const t0 = Date.now();
    for (let r = 0; r < ROUNDS; r++) {
      await round(WARMUP + r);
      peak = Math.max(peak, rssMB());
      if (r === Math.floor(ROUNDS / 2)) {
        await settle();
        rssMid = rssMB();
      }
    }
    const seconds = (Date.now() - t0) / 1000;
    await settle();
    const rss1 = rssMB();
    const fd1 = openFds();
    await Promise.all([model.dispose(), tiny.dispose()]);
    fs.rmSync(badDir, { recursive: true, force: true });

    const f = (x: number) => x.toFixed(1);
    // One line for the README's Reliability section.
    console.log(
      `soak: ${calls} calls (${good} good, ${bad} bad) in ${seconds.toFixed(1)} s; RSS after warm-up ${f(rss0)} MB, ` +
        `half-way ${f(rssMid)} MB, end ${f(rss1)} MB (peak ${f(peak)} MB); open fds ${fd0} -> ${fd1}`,
    );
    expect(calls).toBeGreaterThanOrEqual(ROUNDS * 14);
    expect(rss1 - rss0).toBeLessThan(MAX_RSS_GROWTH_MB);
    expect(rss1 - rssMid).toBeLessThan(MAX_LATE_GROWTH_MB);
    expect(fd1).toBeLessThanOrEqual(fd0 + MAX_FD_GROWTH);
  }, 150000);
});
