// Dispose semantics, concurrency, the event loop, memory over many calls, seeds and save/load.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';
import { Tensor, XCLIPConfig, XClipError, XCLIPModel, XCLIPTextModel, type XCLIPOutput } from '../../lib';
import { debugHooks } from '../helpers/debugHooks';
import { expectClose, input, loadCase, modelDir } from '../helpers/fixtures';

function fullInputs(model: string) {
  const c = loadCase(model, 'forward_full');
  return {
    c,
    inputs: {
      inputIds: input(c, 'inputs.input_ids'),
      attentionMask: input(c, 'inputs.attention_mask'),
      pixelValues: input<'float32'>(c, 'inputs.pixel_values'),
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<XClipError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(XClipError);
  return err as XClipError;
}

const same = (a: Tensor, b: Tensor): boolean => a.dims.join() === b.dims.join() && Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));

describe('dispose', () => {
  it('calls after dispose() reject with DISPOSED; dispose is idempotent', async () => {
    const model = await XCLIPModel.fromPretrained(modelDir('xclip-tiny8'));
    const { inputs } = fullInputs('xclip-tiny8');
    expect(model.disposed).toBe(false);
    await model.dispose();
    expect(model.disposed).toBe(true);
    await model.dispose();
    expect((await rejection(model.forward(inputs))).code).toBe('DISPOSED');
    expect((await rejection(model.getTextFeatures({ inputIds: inputs.inputIds }))).code).toBe('DISPOSED');
    const e = await rejection(model.getVideoFeatures(inputs.pixelValues));
    expect(e.message).toBe('XCLIPModel has been disposed');
  });

  it('calls in flight when dispose() runs complete with correct results', async () => {
    const model = await XCLIPModel.fromPretrained(modelDir('xclip-tiny8'));
    const { c, inputs } = fullInputs('xclip-tiny8');
    const pending = Array.from({ length: 6 }, () => model.forward(inputs));
    await model.dispose();
    for (const out of await Promise.all(pending)) {
      expectClose(out.logitsPerVideo, c.get('logits_per_video')!, 1e-4, 'logits after dispose');
    }
  });

  it('Symbol.asyncDispose disposes (await using)', async () => {
    let seen: XCLIPTextModel | undefined;
    {
      await using text = await XCLIPTextModel.fromPretrained(modelDir('xclip-tiny3'));
      seen = text;
      expect(text.disposed).toBe(false);
    }
    expect(seen.disposed).toBe(true);
    expect((await rejection(seen.forward({ inputIds: [[1, 2]] }))).code).toBe('DISPOSED');
  });
});

describe('concurrency and the event loop', () => {
  it('dozens of concurrent calls on one model equal the sequential results', async () => {
    const model = await XCLIPModel.fromPretrained(modelDir('xclip-tiny4-gelu'));
    const { inputs } = fullInputs('xclip-tiny4-gelu');
    const text = { inputIds: inputs.inputIds, attentionMask: inputs.attentionMask };
    const seqForward = await model.forward(inputs);
    const seqText = await model.getTextFeatures(text);
    const seqVideo = await model.getVideoFeatures(inputs.pixelValues);
    const calls: Promise<[string, Tensor, Tensor]>[] = [];
    for (let i = 0; i < 12; i++) {
      calls.push(model.forward(inputs).then((o: XCLIPOutput) => ['forward', o.logitsPerVideo, seqForward.logitsPerVideo]));
      calls.push(model.forward(inputs).then((o: XCLIPOutput) => ['forward', o.textEmbeds, seqForward.textEmbeds]));
      calls.push(model.getTextFeatures(text).then((t) => ['text', t, seqText]));
      calls.push(model.getVideoFeatures(inputs.pixelValues).then((t) => ['video', t, seqVideo]));
    }
    const results = await Promise.all(calls);
    expect(results).toHaveLength(48);
    for (const [what, got, want] of results) {
      if (!same(got, want)) throw new Error(`${what}: a concurrent result differs from the sequential one`);
    }
    await model.dispose();
  });

  it('a timer keeps firing while a long forward runs on xclip-deep12', async () => {
    const model = await XCLIPModel.fromPretrained(modelDir('xclip-deep12'));
    const cfg = model.config;
    // 6 videos x 8 frames of 64x64, all hidden states and attentions: long enough to measure.
    const numVideos = 6;
    const pv = new Tensor('float32', new Float32Array(numVideos * 8 * 3 * 64 * 64).map((_, i) => Math.sin(i)), [numVideos, 8, 3, 64, 64]);
    const ids = Array.from({ length: 16 }, (_, i) => [cfg.textConfig.vocabSize - 2, ...Array.from({ length: 60 }, (_, j) => (i * 7 + j) % 900), cfg.textConfig.vocabSize - 1]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const start = process.hrtime.bigint();
    let settledTicks = -1;
    await model.forward({ inputIds: ids, pixelValues: pv }, { outputHiddenStates: true, outputAttentions: true }).then(() => {
      settledTicks = ticks;
    });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    clearInterval(timer);
    await model.dispose();
    expect(ms).toBeGreaterThan(50);
    // A blocked loop would give 0 ticks before the promise settles.
    expect(settledTicks).toBeGreaterThanOrEqual(Math.min(5, Math.floor(ms / 5 / 4)));
  });
});

describe('memory', () => {
  it('1,000 calls in a loop keep RSS bounded and release every output', async () => {
    const model = await XCLIPModel.fromPretrained(modelDir('xclip-tiny3'));
    const { inputs } = fullInputs('xclip-tiny3');
    const text = { inputIds: inputs.inputIds, attentionMask: inputs.attentionMask };
    for (let i = 0; i < 50; i++) await model.forward(inputs);
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 5; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    await settle();
    const live0 = debugHooks().counters().outputsLive;
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 1000; i++) {
      if (i % 2) await model.getTextFeatures(text);
      else await model.forward(inputs);
    }
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    await model.dispose();
    // Without GC pressure V8 may keep some outputs; the bound is what matters (no growth per call).
    expect(grown).toBeLessThan(64);
    await settle();
    // Every external buffer of the loop was finalized: the native tensors it held are gone.
    expect(debugHooks().counters().outputsLive).toBeLessThanOrEqual(live0);
  });
});

describe('fromConfig and savePretrained', () => {
  const tiny = () =>
    new XCLIPConfig({
      projectionDim: 16,
      promptNumAttentionHeads: 2,
      textConfig: { vocabSize: 50, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 8 },
      visionConfig: { hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, imageSize: 16, patchSize: 8, numFrames: 2, mitHiddenSize: 16, mitIntermediateSize: 32, mitNumAttentionHeads: 2 },
    });
  const inputs = {
    inputIds: [[48, 3, 49], [48, 49, 49]],
    attentionMask: [[1, 1, 1], [1, 1, 0]],
    pixelValues: new Tensor('float32', new Float32Array(2 * 2 * 3 * 16 * 16).map((_, i) => Math.cos(i)), [2, 2, 3, 16, 16]),
  };

  it('the same seed gives the same weights, another seed others', async () => {
    const [a, b, c] = await Promise.all([XCLIPModel.fromConfig(tiny(), { seed: 7 }), XCLIPModel.fromConfig(tiny(), { seed: 7n }), XCLIPModel.fromConfig(tiny(), { seed: 8 })]);
    const [oa, ob, oc] = await Promise.all([a.forward(inputs), b.forward(inputs), c.forward(inputs)]);
    expect(same(oa.textEmbeds, ob.textEmbeds)).toBe(true);
    expect(same(oa.textEmbeds, oc.textEmbeds)).toBe(false);
    expect(a.config).toEqual(tiny());
    expect(a.device).toBe('cpu');
    expect(a.dtype).toBe('float32');
    await Promise.all([a.dispose(), b.dispose(), c.dispose()]);
  });

  it('savePretrained then fromPretrained reproduces the outputs', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-node-'));
    try {
      const a = await XCLIPModel.fromConfig(tiny(), { seed: 3 });
      await a.savePretrained(dir);
      expect(fs.existsSync(path.join(dir, 'config.json'))).toBe(true);
      const b = await XCLIPModel.fromPretrained(dir);
      expect(b.config).toEqual(a.config);
      const [oa, ob] = await Promise.all([a.forward(inputs), b.forward(inputs)]);
      expect(same(oa.logitsPerVideo, ob.logitsPerVideo)).toBe(true);
      await Promise.all([a.dispose(), b.dispose()]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bfloat16 weights give bfloat16 outputs close to float32', async () => {
    const f32 = await XCLIPModel.fromPretrained(modelDir('xclip-tiny8'));
    const bf16 = await XCLIPModel.fromPretrained(modelDir('xclip-tiny8'), { dtype: 'bfloat16' });
    expect(bf16.dtype).toBe('bfloat16');
    const { inputs: full } = fullInputs('xclip-tiny8');
    const text = { inputIds: full.inputIds, attentionMask: full.attentionMask };
    const [a, b] = await Promise.all([f32.getTextFeatures(text), bf16.getTextFeatures(text)]);
    expect(b.type).toBe('bfloat16');
    const x = a.toFloat32Array();
    const y = b.toFloat32Array();
    const scale = Math.max(...x.map(Math.abs));
    x.forEach((v, i) => expect(Math.abs(v - y[i])).toBeLessThan(0.05 * scale + 0.05));
    await Promise.all([f32.dispose(), bf16.dispose()]);
  });
});
