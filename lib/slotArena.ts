/**
 * Batch memory for the classifier: each video is prepared (decoded and preprocessed by the core) straight into a
 * slot of one buffer of native memory (binding().allocate: calls write and read it in place), and a batch whose
 * slots lie side by side is handed to the model as a view of that buffer, so pixel values are written once and
 * never copied. Slots are taken in order around the buffer, so
 * consecutive videos (what a batch is made of) usually lie side by side; a batch that does not (the buffer wrapped
 * around, or its videos were prepared out of order with others') is gathered into a reused buffer instead.
 * @module
 * @internal
 */
import { binding } from './native';
import { Tensor } from './tensor';

/** One video's place in the arena, held from before its preparation until its batch's model call is over. */
export interface Slot {
  /** Where the video's pixel values go. */
  readonly data: Float32Array;
  readonly index: number;
}

/** A prepared video as the classifier queues it: its pixel values, in a slot of the arena or in a buffer of its own. */
export interface PreparedInput {
  pixelValues: Tensor<'float32'>;
  slot?: Slot;
}

/**
 * @example
 * const arena = new SlotArena(8 * 3 * 224 * 224, 8, 2);
 * const slot = arena.acquire();
 */
export class SlotArena {
  /** Floats per slot: one video's pixel values. */
  readonly slotLength: number;
  readonly #maxBatch: number;
  readonly #capacity: number;
  readonly #pinned: boolean;
  #buffer: Float32Array | undefined;
  #gather: Float32Array | undefined;
  readonly #used: boolean[];
  #next = 0;

  /**
   * Slots of `slotLength` floats for `pendingBatches` batches of `maxBatch` videos being prepared or waiting plus
   * the batch in the model (its slots are held until the call is over), allocated on first use. `pinned`: page-locked
   * memory (for a model on CUDA, so batches reach the device by DMA, without a staging copy).
   */
  constructor(slotLength: number, maxBatch: number, pendingBatches: number, pinned = false) {
    this.slotLength = slotLength;
    this.#pinned = pinned;
    this.#maxBatch = maxBatch;
    this.#capacity = (pendingBatches + 1) * maxBatch;
    this.#used = new Array<boolean>(this.#capacity).fill(false);
  }

  /** The next free slot after the last one taken, or undefined when all are in use (the caller then goes without). */
  acquire(): Slot | undefined {
    for (let k = 0; k < this.#capacity; k++) {
      const index = (this.#next + k) % this.#capacity;
      if (this.#used[index]) continue;
      this.#used[index] = true;
      this.#next = (index + 1) % this.#capacity;
      this.#buffer ??= binding().allocate('float32', this.slotLength * this.#capacity, this.#pinned);
      return { data: this.#buffer.subarray(index * this.slotLength, (index + 1) * this.slotLength), index };
    }
    return undefined;
  }

  /** Gives a slot back; a slot released twice, or from before clear(), is ignored. */
  release(slot: Slot | undefined): void {
    if (slot && this.#buffer && slot.data.buffer === this.#buffer.buffer) this.#used[slot.index] = false;
  }

  /**
   * One [B, ...] tensor for a batch of same-shape inputs, and for each input the row it has in that tensor. Slots
   * that lie side by side are viewed in place (in slot order); anything else is gathered in input order.
   */
  batch(inputs: readonly PreparedInput[]): { pixelValues: Tensor<'float32'>; rows: number[] } {
    const first = inputs[0].pixelValues;
    if (inputs.length === 1) return { pixelValues: first, rows: [0] };
    const dims = [inputs.length, ...first.dims.slice(1)];
    const indices = inputs.map((input) => (input.slot && this.#buffer && input.slot.data.buffer === this.#buffer.buffer ? input.slot.index : -1));
    const start = Math.min(...indices);
    if (start >= 0 && new Set(indices).size === inputs.length && Math.max(...indices) - start === inputs.length - 1) {
      const view = this.#buffer!.subarray(start * this.slotLength, (start + inputs.length) * this.slotLength);
      return { pixelValues: new Tensor('float32', view, dims), rows: indices.map((i) => i - start) };
    }
    const perVideo = first.data.length;
    const size = perVideo * inputs.length;
    // Reused across batches (one runs at a time): first-touching fresh pages costs more than the copy. Native memory,
    // which the model call reads in place (memory JavaScript made would be copied again at every call).
    if (!this.#gather || this.#gather.length < size) this.#gather = binding().allocate('float32', perVideo * Math.max(this.#maxBatch, inputs.length), this.#pinned);
    const data = this.#gather.subarray(0, size);
    inputs.forEach((input, i) => data.set(input.pixelValues.data, i * perVideo));
    return { pixelValues: new Tensor('float32', data, dims), rows: inputs.map((_, i) => i) };
  }

  /** Drops the buffers (dispose); calls still running keep what they hold alive. */
  clear(): void {
    this.#buffer = undefined;
    this.#gather = undefined;
    this.#used.fill(false);
  }
}
