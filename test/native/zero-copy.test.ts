// Proves that tensors cross the N-API boundary without copies, in both directions.
import * as v8 from 'v8';
import * as vm from 'vm';
import { Tensor, XCLIPModel } from '../../lib';
import { debugHooks } from '../helpers/debugHooks';
import { input, loadCase, modelDir } from '../helpers/fixtures';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('zero-copy inputs', () => {
  it('the worker reads the caller buffer itself: a write made during the call is visible', async () => {
    const data = new Float32Array([1, 2, 3, 4]);
    const pending = debugHooks().inspect(new Tensor('float32', data, [2, 2]), 300);
    data[0] = 42; // after the call started, before the worker reads
    const seen = await pending;
    expect(seen.values).toEqual([42, 2, 3, 4]);
    expect(seen.address).toBe(debugHooks().addressOf(data));
  });

  it('honours byteOffset of a subarray view', async () => {
    const backing = new Float32Array([9, 9, 5, 6, 7, 8]);
    const view = backing.subarray(2);
    const seen = await debugHooks().inspect(new Tensor('float32', view, [4]), 0);
    expect(seen.values).toEqual([5, 6, 7, 8]);
    expect(seen.address).toBe(debugHooks().addressOf(backing) + 8n);
  });

  it('int64 ids are borrowed as well', async () => {
    const ids = new BigInt64Array([49406n, 320n, 49407n]);
    const seen = await debugHooks().inspect(new Tensor('int64', ids, [1, 3]), 0);
    expect(seen.address).toBe(debugHooks().addressOf(ids));
    expect(seen.values).toEqual([49406, 320, 49407]);
  });
});

describe('zero-copy outputs', () => {
  afterEach(() => debugHooks().forceCopyOutputs(false));

  it('an output ArrayBuffer is the native tensor memory (external, not copied)', () => {
    const before = debugHooks().counters();
    const out = debugHooks().makeOutput(8);
    const after = debugHooks().counters();
    expect(Array.from(out.tensor.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(debugHooks().addressOf(out.tensor.data)).toBe(out.address);
    expect(after.outputsExternal - before.outputsExternal).toBe(1);
    expect(after.outputsCopied - before.outputsCopied).toBe(0);
  });

  it('falls back to a copy where external buffers are refused', () => {
    debugHooks().forceCopyOutputs(true);
    const before = debugHooks().counters();
    const out = debugHooks().makeOutput(8);
    const after = debugHooks().counters();
    expect(Array.from(out.tensor.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(debugHooks().addressOf(out.tensor.data)).not.toBe(out.address);
    expect(after.outputsCopied - before.outputsCopied).toBe(1);
    expect(after.outputsExternal - before.outputsExternal).toBe(0);
  });

  it('finalizers release the native tensors once JS drops the outputs', async () => {
    const live0 = debugHooks().counters().outputsLive;
    let outs: unknown[] = [];
    for (let i = 0; i < 50; i++) outs.push(debugHooks().makeOutput(1024));
    expect(debugHooks().counters().outputsLive - live0).toBe(50);
    outs = [];
    for (let i = 0; i < 10 && debugHooks().counters().outputsLive > live0; i++) {
      gc();
      await turn();
    }
    expect(outs.length).toBe(0);
    expect(debugHooks().counters().outputsLive).toBeLessThanOrEqual(live0);
  });

  it('a model forward hands back every output without a copy', async () => {
    const model = await XCLIPModel.fromPretrained(modelDir('xclip-tiny8'));
    const c = loadCase('xclip-tiny8', 'forward_full');
    const before = debugHooks().counters();
    const out = await model.forward(
      { inputIds: input(c, 'inputs.input_ids'), attentionMask: input(c, 'inputs.attention_mask'), pixelValues: input<'float32'>(c, 'inputs.pixel_values') },
      { outputHiddenStates: true, outputAttentions: true },
    );
    const after = debugHooks().counters();
    expect(after.inputsBorrowed - before.inputsBorrowed).toBe(3);
    expect(after.outputsCopied - before.outputsCopied).toBe(0);
    // 5 top-level tensors + 3 towers' last/pooler + hidden states + attentions; equal pointers share one buffer.
    const buffers = new Set<ArrayBufferLike>();
    const collect = (v: unknown): void => {
      if (v instanceof Tensor) buffers.add(v.data.buffer);
      else if (Array.isArray(v)) v.forEach(collect);
      else if (v && typeof v === 'object') Object.values(v).forEach(collect);
    };
    collect(out);
    expect(after.outputsExternal - before.outputsExternal).toBe(buffers.size);
    expect(buffers.size).toBeGreaterThan(15);
    await model.dispose();
  });
});
