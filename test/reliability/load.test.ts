// Load: 64 concurrent requests of every kind against one model, good and bad mixed, with dispose() called half-way.
// Every promise must settle; good requests issued before dispose() equal the sequential results bit for bit (they
// finish even though dispose() ran while they were queued); everything issued afterwards rejects with DISPOSED.
import { Tensor, XClipError, XCLIPModel } from '../../lib';
import { input, loadCase, modelDir } from '../helpers/fixtures';

const REQUESTS = 64;
const DISPOSE_AT = 32;

const bytes = (t: Tensor): Buffer => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const same = (a: Tensor, b: Tensor): boolean => a.dims.join() === b.dims.join() && bytes(a).equals(bytes(b));

type Kind = 'forward' | 'text' | 'video' | 'withText' | 'nan' | 'shape' | 'ids' | 'seqLen';
const KINDS: Kind[] = ['forward', 'nan', 'text', 'shape', 'video', 'ids', 'withText', 'seqLen'];
const GOOD = new Set<Kind>(['forward', 'text', 'video', 'withText']);

describe('load', () => {
  it(`${REQUESTS} concurrent mixed requests with a dispose in the middle all settle correctly`, async () => {
    const name = 'xclip-tiny4-gelu';
    const c = loadCase(name, 'forward_full');
    const inputIds = input(c, 'inputs.input_ids');
    const attentionMask = input(c, 'inputs.attention_mask');
    const pixelValues = input<'float32'>(c, 'inputs.pixel_values');
    const text = { inputIds, attentionMask };
    const [, numFrames, channels, h, w] = pixelValues.dims;
    const nan = new Tensor('float32', new Float32Array(pixelValues.data.length).fill(Number.NaN), pixelValues.dims);
    const wrongFrames = new Tensor('float32', new Float32Array(2 * (numFrames + 1) * channels * h * w), [2, numFrames + 1, channels, h, w]);

    const model = await XCLIPModel.fromPretrained(modelDir(name));
    const vocab = model.config.textConfig.vocabSize;
    // Sequential references.
    const seqForward = await model.forward({ ...text, pixelValues });
    const seqText = await model.getTextFeatures(text);
    const seqVideo = await model.getVideoFeatures(pixelValues);
    const seqWithText = await model.forwardWithTextFeatures({ textFeatures: seqText, pixelValues });

    const issue = (kind: Kind): Promise<Tensor[]> => {
      switch (kind) {
        case 'forward': return model.forward({ ...text, pixelValues }).then((o) => [o.logitsPerVideo, o.textEmbeds, o.videoEmbeds]);
        case 'text': return model.getTextFeatures(text).then((t) => [t]);
        case 'video': return model.getVideoFeatures(pixelValues).then((t) => [t]);
        case 'withText': return model.forwardWithTextFeatures({ textFeatures: seqText, pixelValues }).then((o) => [o.logitsPerVideo, o.textEmbeds]);
        case 'nan': return model.getVideoFeatures(nan).then((t) => [t]);
        case 'shape': return model.getVideoFeatures(wrongFrames).then((t) => [t]);
        case 'ids': return model.getTextFeatures({ inputIds: [[vocab - 2, vocab, vocab - 1]] }).then((t) => [t]);
        case 'seqLen': return model.getTextFeatures({ inputIds: [Array.from({ length: model.config.textConfig.maxPositionEmbeddings + 1 }, () => 1)] }).then((t) => [t]);
      }
    };
    const expected: Record<string, Tensor[]> = {
      forward: [seqForward.logitsPerVideo, seqForward.textEmbeds, seqForward.videoEmbeds],
      text: [seqText],
      video: [seqVideo],
      withText: [seqWithText.logitsPerVideo, seqWithText.textEmbeds],
    };
    // What each bad request must reject with while the model is alive.
    const badCheck: Record<string, (e: unknown) => boolean> = {
      nan: (e) => e instanceof XClipError && e.code === 'NON_FINITE_INPUT',
      shape: (e) => e instanceof RangeError,
      ids: (e) => e instanceof RangeError,
      seqLen: (e) => e instanceof RangeError,
    };

    const kinds: Kind[] = [];
    const pending: Promise<Tensor[]>[] = [];
    let disposed: Promise<void> | undefined;
    for (let i = 0; i < REQUESTS; i++) {
      if (i === DISPOSE_AT) disposed = model.dispose();
      const kind = KINDS[(i * 5) % KINDS.length];
      kinds.push(kind);
      pending.push(issue(kind));
    }
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('not every request settled within 60 s')), 60000);
    });
    const settled = await Promise.race([Promise.allSettled(pending), watchdog]);
    clearTimeout(timer);
    await disposed;

    const problems: string[] = [];
    let fulfilled = 0;
    let rejectedBad = 0;
    let rejectedDisposed = 0;
    settled.forEach((s, i) => {
      const kind = kinds[i];
      const where = `request ${i} (${kind})`;
      if (i >= DISPOSE_AT) {
        if (s.status === 'rejected' && s.reason instanceof XClipError && s.reason.code === 'DISPOSED') rejectedDisposed++;
        else problems.push(`${where} after dispose: ${s.status === 'fulfilled' ? 'fulfilled' : String(s.reason)}`);
      } else if (GOOD.has(kind)) {
        if (s.status === 'rejected') problems.push(`${where}: ${String(s.reason)}`);
        else if (!s.value.every((t, k) => same(t, expected[kind][k]))) problems.push(`${where}: differs from the sequential result`);
        else fulfilled++;
      } else if (s.status === 'rejected' && badCheck[kind](s.reason)) {
        rejectedBad++;
      } else {
        problems.push(`${where}: ${s.status === 'fulfilled' ? 'fulfilled' : `wrong rejection ${String(s.reason)}`}`);
      }
    });
    expect(problems).toEqual([]);
    expect(fulfilled + rejectedBad + rejectedDisposed).toBe(REQUESTS);
    expect(rejectedDisposed).toBe(REQUESTS - DISPOSE_AT);
    expect(fulfilled).toBeGreaterThanOrEqual(12);
    expect(model.disposed).toBe(true);

    // The addon is still healthy: a fresh model gives the same answer.
    const again = await XCLIPModel.fromPretrained(modelDir(name));
    expect(same((await again.forward({ ...text, pixelValues })).logitsPerVideo, seqForward.logitsPerVideo)).toBe(true);
    await again.dispose();
  });
});
