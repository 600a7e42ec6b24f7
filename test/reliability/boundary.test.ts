// Memory safety where JavaScript meets the addon, one file per path, and bounded work on hostile arguments and files.
// Every case here crashed the process, hung it, read another file or misbehaved before (issue 13); the numbered
// classes are that issue's.
import { constants as bufferConstants } from 'buffer';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';
import {
  CLIPTokenizer,
  probeVideo,
  readVideo,
  Tensor,
  VideoMAEImageProcessor,
  XClipError,
  XCLIPModel,
  XCLIPProcessor,
  ZeroShotVideoClassifier,
} from '../../lib';
import { binding } from '../../lib/native';
import { fixturesDir } from '../helpers/fixtures';
import { debugHooks } from '../helpers/debugHooks';
import { claimsMp4, withDisplayMatrix } from '../helpers/mp4';
import { resizableBuffer } from '../helpers/resizable';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const video = (name: string): string => path.join(fixturesDir(), 'videos', name);
const h264 = video('h264_320x240_30fps.mp4');
const e2eDir = (): string => path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');

/** Detaches `buffer` (its memory moves to a clone that is dropped at once) and collects. */
function transferAway(buffer: ArrayBufferLike): void {
  structuredClone(buffer, { transfer: [buffer as ArrayBuffer] });
  gc();
}

async function rejection(p: Promise<unknown>): Promise<XClipError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  if (!(e instanceof XClipError)) throw new Error(`expected an XClipError, got ${String(e)}`);
  return e;
}

const sameFrames = (a: { data: Uint8Array }[], b: { data: Uint8Array }[]): boolean =>
  a.length === b.length && a.every((f, i) => Buffer.compare(f.data, b[i].data) === 0);

describe('1. inputs stay valid and unchanged for the whole call', () => {
  // JavaScript memory is copied when the call starts; before, the worker read it in place (SIGSEGV, or the new bytes).
  it('a source Buffer transferred away and collected during a decode', async () => {
    const expected = await readVideo(h264);
    const bytes = fs.readFileSync(h264);
    const pending = readVideo(bytes);
    transferAway(bytes.buffer);
    expect(bytes.length).toBe(0);
    expect(sameFrames((await pending).frames, expected.frames)).toBe(true);
  });

  it('a source Buffer rewritten in place during a decode', async () => {
    const expected = await readVideo(h264);
    const bytes = fs.readFileSync(h264);
    const pending = readVideo(bytes);
    bytes.set(fs.readFileSync(video('vp9_176x144_25fps.webm')).subarray(0, 30000));
    bytes.fill(0, 30000);
    expect(sameFrames((await pending).frames, expected.frames)).toBe(true);
  });

  it('a resizable buffer shrunk during a decode', async () => {
    const file = fs.readFileSync(h264);
    const buffer = resizableBuffer(file.length, 2 * file.length);
    const bytes = new Uint8Array(buffer);
    bytes.set(file);
    const pending = readVideo(bytes);
    buffer.resize(0);
    expect(sameFrames((await pending).frames, (await readVideo(h264)).frames)).toBe(true);
  });

  it("frames the caller made, transferred away during preprocessing", async () => {
    const processor = await VideoMAEImageProcessor.fromPretrained(e2eDir());
    const { frames } = await readVideo(h264);
    const own = frames.map((f) => ({ ...f, data: Uint8Array.from(f.data) }));
    const expected = (await processor.preprocess([frames])).pixelValues.data;
    const pending = processor.preprocess([own]);
    own.forEach((f) => transferAway(f.data.buffer));
    expect(Buffer.compare(Buffer.from((await pending).pixelValues.data.buffer), Buffer.from(expected.buffer))).toBe(0);
  });

  it("readVideo's own frames go to preprocess without a copy", async () => {
    const processor = await VideoMAEImageProcessor.fromPretrained(e2eDir());
    const { frames } = await readVideo(h264);
    const before = debugHooks().counters();
    await processor.preprocess([frames]);
    const after = debugHooks().counters();
    expect(after.inputsPinned - before.inputsPinned).toBe(frames.length);
    expect(after.inputsCopied - before.inputsCopied).toBe(0);
  });
});

// Machines with the memory run the decode over 4 GiB (XCLIP_BIG_MEMORY_TESTS=1); it needs about 9 GB and, on the
// shared 2-core machines, 10-40 s, so the default run (and CI) leaves it out and says so.
const memAvailableGiB = (): number => {
  const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) / 2 ** 20 : 0;
};
const bigMemoryReason = ((): string | undefined => {
  if (process.env.XCLIP_BIG_MEMORY_TESTS !== '1') return 'set XCLIP_BIG_MEMORY_TESTS=1 to run it (about 9 GB, 10-40 s)';
  if (process.platform !== 'linux') return 'needs /proc/meminfo';
  if (memAvailableGiB() < 12) return `needs 12 GiB available, this machine has ${memAvailableGiB().toFixed(1)}`;
  return undefined;
})();

describe("2. outputs around Node's buffer limit (2^32 bytes in Node 20)", () => {
  it('an output of exactly the limit is handed over as is; one byte more is a clear error (it aborted with a double free)', () => {
    // Uninitialised bytes the addon never touches: the size is real, the memory is not used.
    const max = bufferConstants.MAX_LENGTH;
    const under = debugHooks().makeOutput(max, 'uint8');
    expect(under.tensor.data.length).toBe(max);
    expect(() => debugHooks().makeOutput(max + 1, 'uint8')).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    expect(() => debugHooks().makeOutput(max + 1, 'uint8')).toThrow(`larger than the ${max} bytes`);
  });

  (bigMemoryReason ? it.skip : it)(`decoded frames just under and just over 4 GiB arrive whole${bigMemoryReason ? ` (skipped: ${bigMemoryReason})` : ''}`, async () => {
    // 320x240 RGB frames are 230400 bytes: 18641 of them are 4 GiB less 80 KB, 18642 are 4 GiB and 150 KB.
    const [f0, f1] = (await readVideo(h264, { sampling: { indices: [0, 1] } })).frames;
    for (const n of [18641, 18642]) {
      let v: Awaited<ReturnType<typeof readVideo>> | undefined = await readVideo(h264, { sampling: { indices: Array.from({ length: n }, (_, i) => i % 2) } });
      expect(v.frames).toHaveLength(n);
      for (const i of [0, 1, n - 2, n - 1]) expect(Buffer.compare(v.frames[i].data, (i % 2 ? f1 : f0).data)).toBe(0);
      v = undefined;
      gc();
      await new Promise((r) => setImmediate(r));
    }
  }, 300000);
});

describe('4. arguments are sized before they are walked', () => {
  const huge = (): never[] => new Array(2 ** 32 - 1) as never[];  // holes: cheap to make, minutes to walk
  const quick = (fn: () => unknown, Kind: ErrorConstructor, message: RegExp): void => {
    const t0 = Date.now();
    expect(fn).toThrow(Kind);
    expect(fn).toThrow(message);
    expect(Date.now() - t0).toBeLessThan(500);
  };

  it('tokenizer calls', async () => {
    const tok = await CLIPTokenizer.fromPretrained(e2eDir());
    quick(() => tok.batchEncode(huge()), RangeError, /texts\.length/);
    quick(() => tok.decode(huge()), RangeError, /ids\.length/);
    // [2 ** 31, 0] holds no element but named 2 ** 31 rows, each decoded to a string (the heap ran out).
    quick(() => tok.batchDecode(new Tensor('int64', new BigInt64Array(0), [2 ** 31, 0])), RangeError, /tensor\.dims\[0\]/);
    quick(() => tok.batchDecode(new Tensor('int64', new BigInt64Array(0), [2 ** 31 - 1, 0])), RangeError, /batch\.dims\[0\]/);
    quick(() => tok.batchEncode(['a', , 'b'] as string[]), TypeError, /texts\[1\]/);
  });

  it('video and preprocessing calls', async () => {
    const t0 = Date.now();
    await expect(readVideo(h264, { sampling: { indices: huge() } })).rejects.toThrow(/sampling\.indices\.length/);
    await expect(readVideo(h264, { sampling: { indices: [0, , 1] as number[] } })).rejects.toThrow(/sampling\.indices\[1\]/);
    const processor = await VideoMAEImageProcessor.fromPretrained(e2eDir());
    await expect(processor.preprocess(huge())).rejects.toThrow(RangeError);
    await expect(processor.preprocess([huge()])).rejects.toThrow(RangeError);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('the addon checks the same when TypeScript is bypassed', async () => {
    const t0 = Date.now();
    const { handle } = binding().imageProcessor.fromConfig(JSON.stringify({ size: 224 }));
    const refused = (call: () => unknown): Promise<void> => expect(Promise.resolve().then(call)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await refused(() => binding().video.read(h264, { sampling: 'indices', indices: huge() }));
    await refused(() => binding().imageProcessor.preprocess(handle, huge()));
    await refused(() => debugHooks().inspect({ type: 'float32', data: new Float32Array(0), dims: huge() }, 0));
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('classifier labels', async () => {
    const clf = await ZeroShotVideoClassifier.fromPretrained(e2eDir());
    try {
      await expect(clf.classify(h264, huge())).rejects.toThrow(/labels\.length/);
    } finally {
      await clf.dispose();
    }
  });
});

describe('5. a path is one file', () => {
  it('a NUL is refused, not cut (the prefix would open)', async () => {
    await expect(readVideo(`${h264}\0.txt`)).rejects.toThrow(RangeError);
    await expect(binding().video.read(`${h264}\0.txt`, {})).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('NUL') });
  });

  it('"file:" is part of the name, not a protocol', async () => {
    expect((await rejection(readVideo(`file:${h264}`))).code).toBe('FILE_NOT_FOUND');
  });

  it('a playlist naming local files opens none of them, as a path or as bytes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-boundary-'));
    try {
      fs.copyFileSync(h264, path.join(dir, 'clip.mp4'));
      const playlist = '#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\nclip.mp4\n#EXT-X-ENDLIST\n';
      fs.writeFileSync(path.join(dir, 'upload.mp4'), playlist);
      for (const source of [path.join(dir, 'upload.mp4'), Buffer.from(playlist)]) {
        const e = await rejection(readVideo(source));
        expect(e.code).toBe('VIDEO_OPEN_FAILED');
        expect(e.message).toMatch(/not self-contained/);  // bytes used to fail with "Cannot allocate memory"
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('6-7. bounded memory per decode', () => {
  it('a 1 KB MP4 claiming 89 million samples in each of two tracks is refused at once', async () => {
    const bomb = claimsMp4(89_000_000, 2);
    expect(bomb.length).toBeLessThan(1200);
    const peak0 = process.resourceUsage().maxRSS;
    const t0 = Date.now();
    const e = await rejection(readVideo(bomb));
    expect(e.code).toBe('VIDEO_TOO_LARGE');
    expect(e.message).toMatch(/claim 89000000 samples/);
    expect((await rejection(probeVideo(bomb))).code).toBe('VIDEO_TOO_LARGE');
    expect(Date.now() - t0).toBeLessThan(500);
    expect(process.resourceUsage().maxRSS - peak0).toBeLessThan(64 * 1024);  // KB; it used to reach 4.2 GB
  });

  it('repeated indices count toward the 8 GiB output limit', async () => {
    const e = await rejection(readVideo(h264, { sampling: { indices: new Array(37283).fill(0) } }));
    expect(e.code).toBe('VIDEO_TOO_LARGE');
    expect(e.message).toMatch(/37283 frames \(1 distinct\)/);
  });
});

describe('smaller', () => {
  it('a mirroring display matrix is reported and applied as a mirror, not a half turn', async () => {
    const mirrored = withDisplayMatrix(fs.readFileSync(h264), -1, 0, 0, 1);
    const info = await probeVideo(mirrored);
    expect(info).toMatchObject({ rotation: 0, mirrored: true });
    const [stored] = (await readVideo(mirrored, { numFrames: 1 })).frames;
    const [shown] = (await readVideo(mirrored, { numFrames: 1, applyRotation: true })).frames;
    const px = (f: typeof stored, x: number, y: number): number[] => Array.from(f.data.subarray((y * f.width + x) * 3, (y * f.width + x) * 3 + 3));
    expect(px(shown, 0, 10)).toEqual(px(stored, stored.width - 1, 10));
    expect(px(shown, 5, 0)).toEqual(px(stored, stored.width - 6, 0));
  });

  it('the classifier constructor names a missing model or processor', async () => {
    expect(() => new ZeroShotVideoClassifier(null as unknown as XCLIPModel, null as unknown as XCLIPProcessor)).toThrow(
      new TypeError('Expected an XCLIPModel for model but received null'),
    );
    const model = await XCLIPModel.fromPretrained(e2eDir());
    try {
      expect(() => new ZeroShotVideoClassifier(model, {} as XCLIPProcessor)).toThrow(new TypeError('Expected an XCLIPProcessor for processor but received an object'));
    } finally {
      await model.dispose();
    }
  });
});
