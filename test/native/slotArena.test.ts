// The classifier's batch memory: slots taken around one buffer of native memory, batches viewed in place when their slots lie
// side by side, gathered in input order otherwise, and the row each input has in the batch.
import { SlotArena, type PreparedInput } from '../../lib/slotArena';
import { Tensor } from '../../lib/tensor';

const LEN = 6;

/** A slot filled with `value`, as a prepare into it would leave it. */
function prepared(arena: SlotArena, value: number): PreparedInput {
  const slot = arena.acquire()!;
  slot.data.fill(value);
  return { pixelValues: new Tensor('float32', slot.data, [1, 2, 3]), slot };
}

describe('SlotArena', () => {
  it('holds (pending batches + 1) x maxBatch slots, then lets callers go without', () => {
    const arena = new SlotArena(LEN, 2, 2);
    const slots = Array.from({ length: 6 }, () => arena.acquire());
    expect(slots.every((s) => s !== undefined)).toBe(true);
    expect(arena.acquire()).toBeUndefined();
    arena.release(slots[3]);
    expect(arena.acquire()!.index).toBe(3);
  });

  it('a batch of consecutive slots is a view of the arena, rows in slot order', () => {
    const arena = new SlotArena(LEN, 4, 2);
    const [a, b, c] = [prepared(arena, 1), prepared(arena, 2), prepared(arena, 3)];
    const { pixelValues, rows } = arena.batch([b, c, a]);
    expect(pixelValues.dims).toEqual([3, 2, 3]);
    expect(pixelValues.data.buffer).toBe(a.slot!.data.buffer); // no copy
    expect(rows).toEqual([1, 2, 0]);
    rows.forEach((r, i) => expect(pixelValues.data[r * LEN]).toBe([2, 3, 1][i]));
  });

  it('a batch whose slots are not side by side is gathered in input order, into a buffer reused across batches', () => {
    const arena = new SlotArena(LEN, 2, 1);
    const first = [prepared(arena, 1), prepared(arena, 2), prepared(arena, 3), prepared(arena, 4)];
    first.slice(0, 3).forEach((p) => arena.release(p.slot));
    const wrapped = prepared(arena, 5); // slot 0 again, after slot 3: the ring wrapped
    const { pixelValues, rows } = arena.batch([first[3], wrapped]);
    expect(rows).toEqual([0, 1]);
    expect(pixelValues.data.buffer).not.toBe(wrapped.slot!.data.buffer);
    expect(Array.from(pixelValues.data.subarray(0, LEN))).toEqual(new Array(LEN).fill(4));
    expect(Array.from(pixelValues.data.subarray(LEN))).toEqual(new Array(LEN).fill(5));
    const own: PreparedInput = { pixelValues: new Tensor('float32', new Float32Array(LEN).fill(9), [1, 2, 3]) };
    expect(arena.batch([wrapped, own]).pixelValues.data.buffer).toBe(pixelValues.data.buffer);
  });

  it('a single input is its own batch; releases are idempotent and clear() forgets every slot', () => {
    const arena = new SlotArena(LEN, 1, 1);
    const a = prepared(arena, 7);
    expect(arena.batch([a]).pixelValues).toBe(a.pixelValues);
    arena.release(a.slot);
    arena.release(a.slot);
    const b = arena.acquire()!;
    arena.clear();
    arena.release(b); // from before clear(): ignored
    expect(arena.acquire()).toBeDefined();
    expect(arena.acquire()).toBeDefined();
    expect(arena.acquire()).toBeUndefined();
  });
});
