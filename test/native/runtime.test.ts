// Process-wide runtime controls: kernel backend switch, the GEMM peak the bench divides by, the memory cache.
import {
  Tensor,
  XCLIPConfig,
  XCLIPModel,
  XClipError,
  cachedMemoryBytes,
  cudaAvailable,
  cudaInfo,
  getKernelBackend,
  measureGemmPeak,
  pendingNativeCalls,
  readVideo,
  releaseCachedMemory,
  setKernelBackend,
} from '../../lib';
import { execFileSync } from 'child_process';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');

const tinyConfigJSON = {
  projection_dim: 16,
  prompt_layers: 1,
  prompt_num_attention_heads: 2,
  text_config: { vocab_size: 100, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16 },
  vision_config: {
    hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 32, patch_size: 16, num_frames: 2,
    mit_hidden_size: 16, mit_intermediate_size: 32, mit_num_hidden_layers: 1, mit_num_attention_heads: 2,
  },
};

function tinyConfig(): XCLIPConfig {
  return XCLIPConfig.fromJSON(tinyConfigJSON);
}

describe('runtime', () => {
  afterEach(() => setKernelBackend('auto'));

  it('cudaInfo: agrees with cudaAvailable; on a libtorch without CUDA, says so and lists no device', () => {
    const info = cudaInfo();
    expect(cudaAvailable()).toBe(info.deviceCount > 0);
    expect(info.devices.map((d) => d.index)).toEqual(Array.from({ length: info.deviceCount }, (_, i) => i));
    if (!info.built) {
      expect(info).toEqual({ built: false, deviceCount: 0, cudaRuntime: 0, cudnn: 0, devices: [], summary: 'not available (this libtorch has no CUDA)' });
    } else {
      // A CUDA libtorch (the device check): every device has a name and a compute capability.
      for (const d of info.devices) expect(d).toMatchObject({ name: expect.stringMatching(/\S/), computeCapability: expect.stringMatching(/^[1-9]\d*\.\d$/) });
    }
  });

  it('switches kernel backends, and both give the same features', async () => {
    const model = await XCLIPModel.fromConfig(tinyConfig(), { seed: 3 });
    const px = new Tensor('float32', Float32Array.from({ length: 2 * 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i)), [2, 2, 3, 32, 32]);
    expect(getKernelBackend()).toBe('auto');
    const fast = (await model.getVideoFeatures(px)).toFloat32Array();
    setKernelBackend('aten');
    expect(getKernelBackend()).toBe('aten');
    const base = (await model.getVideoFeatures(px)).toFloat32Array();
    for (let i = 0; i < fast.length; i++) expect(Math.abs(fast[i] - base[i])).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(base[i]));
    model.dispose();
    expect(() => setKernelBackend('blas' as never)).toThrow(TypeError);
  });

  it('measures the GEMM peak off the JS thread and validates its arguments', async () => {
    const peak = await measureGemmPeak('float32', 0.05);
    expect(peak.gflops).toBeGreaterThan(0);
    expect(['onednn-packed', 'aten']).toContain(peak.backend);
    await expect(measureGemmPeak('float16' as never)).rejects.toThrow(TypeError);
    await expect(measureGemmPeak('float32', 0)).rejects.toThrow('Expected number between 0.01 and 60 for seconds but received 0');
  });

  it('returns cached tensor memory on request', async () => {
    const model = await XCLIPModel.fromConfig(tinyConfig(), { seed: 3 });
    const px = new Tensor('float32', new Float32Array(8 * 2 * 3 * 32 * 32), [8, 2, 3, 32, 32]);
    await model.getVideoFeatures(px);
    await model.dispose();
    releaseCachedMemory();
    expect(cachedMemoryBytes()).toBe(0);
  });

  it('keeps freed tensor memory for reuse when setNumThreads is the first call of the process', () => {
    // `serve --threads 2` and `worker --threads 2` call setNumThreads before any model call. That used to mark the
    // runtime initialised without installing the caching allocator: every later call paid fresh page faults
    // (a search rerank 22 -> 38 ms). A fresh process is the only place the first call can be observed.
    const script = `
      const { XCLIPConfig, XCLIPModel, Tensor, setNumThreads, cachedMemoryBytes, getNumThreads } = require(${JSON.stringify(path.join(ROOT, 'dist'))});
      setNumThreads(1);
      (async () => {
        const model = await XCLIPModel.fromConfig(XCLIPConfig.fromJSON(${JSON.stringify(tinyConfigJSON)}), { seed: 3 });
        await model.getVideoFeatures(new Tensor('float32', new Float32Array(64 * 2 * 3 * 32 * 32), [64, 2, 3, 32, 32]));
        console.log(JSON.stringify({ threads: getNumThreads(), cached: cachedMemoryBytes() }));
      })();`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000 });
    const { threads, cached } = JSON.parse(out.trim().split('\n').pop() as string) as { threads: number; cached: number };
    expect(threads).toBe(1);
    expect(cached).toBeGreaterThan(0);
  });

  it('counts native calls until they settle, abandoned or failed ones included', async () => {
    expect(pendingNativeCalls()).toBe(0);
    const peaks = [measureGemmPeak('float32', 0.2), measureGemmPeak('float32', 0.2)];
    const failing = readVideo('/nonexistent/clip.mp4').then(
      () => 'decoded',
      (err: unknown) => (err instanceof XClipError ? 'rejected' : String(err)),
    );
    expect(pendingNativeCalls()).toBe(3);
    await Promise.all(peaks);
    expect(await failing).toBe('rejected');
    expect(pendingNativeCalls()).toBe(0);
  });
});
