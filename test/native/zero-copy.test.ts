// Proves that tensors cross the N-API boundary without copies, in both directions.
import * as v8 from 'v8';
import * as vm from 'vm';
import { Tensor, XCLIPModel } from '../../lib';
import { binding, type NativeDebug } from '../../lib/native';
import { debugHooks } from '../helpers/debugHooks';
import { input, loadCase, modelDir } from '../helpers/fixtures';
import { resizableBuffer } from '../helpers/resizable';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// What a call reads must stay valid for the whole call, whatever JavaScript does meanwhile: N-API cannot stop a
// transfer (detach), a resize or a write, so memory JavaScript allocated is copied when the call starts, and only
// memory the addon handed out itself (an earlier output, which Node never detaches: a transfer copies it) is read
// in place, co-owned by the call.
describe('call inputs', () => {
  const transferAway = (buffer: ArrayBufferLike): void => {
    structuredClone(buffer, { transfer: [buffer as ArrayBuffer] });
    gc();
  };

  it("copies the caller's own array when the call starts: later writes and a transfer do not reach the worker", async () => {
    const data = new Float32Array([1, 2, 3, 4]);
    const address = debugHooks().addressOf(data);
    const before = debugHooks().counters();
    const pending = debugHooks().inspect(new Tensor('float32', data, [2, 2]), 300);
    data[0] = 42; // after the call started, before the worker reads
    transferAway(data.buffer); // detached: its memory may be freed while the worker sleeps
    const seen = await pending;
    expect(data.length).toBe(0);
    expect(seen.values).toEqual([1, 2, 3, 4]);
    expect(seen.address).not.toBe(address);
    const after = debugHooks().counters();
    expect(after.inputsCopied - before.inputsCopied).toBe(1);
    expect(after.inputsPinned - before.inputsPinned).toBe(0);
  });

  it('a resizable buffer shrunk during the call does not change what the call reads', async () => {
    const buffer = resizableBuffer(16, 1 << 16);
    const data = new Float32Array(buffer, 0, 4);
    data.set([5, 6, 7, 8]);
    const pending = debugHooks().inspect(new Tensor('float32', data, [4]), 200);
    buffer.resize(0);
    expect((await pending).values).toEqual([5, 6, 7, 8]);
  });

  it('reads an output of an earlier call in place (no copy), co-owning it: collecting the output meanwhile frees nothing', async () => {
    const before = debugHooks().counters();
    let out: ReturnType<NativeDebug['makeOutput']> | undefined = debugHooks().makeOutput(8);
    const address = out.address;
    let collected = false;
    const registry = new FinalizationRegistry(() => (collected = true)); // kept: a collected registry reports nothing
    registry.register(out.tensor.data.buffer, 'output');
    const pending = debugHooks().inspect(new Tensor('float32', (out.tensor.data as Float32Array).subarray(2), [6]), 300);
    out = undefined; // nothing in JavaScript refers to the output now: it is collected (and finalized) during the call
    for (let i = 0; i < 20 && !collected; i++) {
      gc();
      await turn();
    }
    expect(collected).toBe(true);
    const seen = await pending;
    expect(seen.values).toEqual([2, 3, 4, 5, 6, 7]);
    expect(seen.address).toBe(address + 8n); // byteOffset of the subarray honoured
    const after = debugHooks().counters();
    expect(after.inputsPinned - before.inputsPinned).toBe(1);
    expect(after.inputsCopied - before.inputsCopied).toBe(0);
  });

  it('native memory from allocate() is read in place (the classifier stacks its batches in it)', async () => {
    const a = binding().allocate('float32', 4);
    a.set([1, 2, 3, 4]);
    const before = debugHooks().counters();
    const seen = await debugHooks().inspect(new Tensor('float32', a, [4]), 0);
    expect(seen.address).toBe(debugHooks().addressOf(a));
    expect(seen.values).toEqual([1, 2, 3, 4]);
    expect(debugHooks().counters().inputsPinned - before.inputsPinned).toBe(1);
  });

  it('a whole output is read at its own address', async () => {
    const out = debugHooks().makeOutput(3);
    const seen = await debugHooks().inspect(new Tensor('float32', out.tensor.data as Float32Array, [1, 3]), 0);
    expect(seen.address).toBe(out.address);
    expect(seen.values).toEqual([0, 1, 2]);
  });

  it("a call filling a caller's array writes it when it settles, and refuses one detached meanwhile", async () => {
    const target = new Uint8Array(1024);
    await debugHooks().fill(target, 7, 0);
    expect(target.every((v) => v === 7)).toBe(true);
    const gone = new Uint8Array(1024);
    const pending = debugHooks().fill(gone, 9, 200);
    transferAway(gone.buffer);
    await expect(pending).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('detached or resized') });
    const own = debugHooks().makeOutput(64, 'uint8');
    await debugHooks().fill(own.tensor.data as Uint8Array, 3, 0);
    expect((own.tensor.data as Uint8Array).every((v) => v === 3)).toBe(true);
  });
});

describe('zero-copy outputs', () => {
  afterEach(() => debugHooks().forceCopyOutputs(false));

  it('an output ArrayBuffer is the native tensor memory (external, not copied)', () => {
    const before = debugHooks().counters();
    const out = debugHooks().makeOutput(8);
    const after = debugHooks().counters();
    expect(Array.from(out.tensor.data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(debugHooks().addressOf(out.tensor.data)).toBe(out.address);
    expect(after.outputsExternal - before.outputsExternal).toBe(1);
    expect(after.outputsCopied - before.outputsCopied).toBe(0);
  });

  it('falls back to a copy where external buffers are refused', () => {
    debugHooks().forceCopyOutputs(true);
    const before = debugHooks().counters();
    const out = debugHooks().makeOutput(8);
    const after = debugHooks().counters();
    expect(Array.from(out.tensor.data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
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
