// The CPU kernels every layer goes through (kernels.h) and the caching allocator: each must compute what libtorch
// computes, for every shape and layout a layer hands it.
#include <c10/core/InferenceMode.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "../src/kernels.h"
#include "../src/parts.h"
#include "testing.h"
#include "xclip/bench.h"
#include "xclip/model.h"
#include "xclip/runtime.h"

using namespace xclip;

namespace {

// Restores the process-wide backend even when a check throws.
struct BackendGuard {
  KernelBackend saved = get_kernel_backend();
  ~BackendGuard() { set_kernel_backend(saved); }
};

at::Tensor reference_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, std::optional<Activation> act) {
  at::Tensor y = at::linear(x.to(at::kDouble), w.to(at::kDouble), b.defined() ? b.to(at::kDouble) : b);
  return act ? apply_activation(*act, y) : y;
}

}  // namespace

TEST(kernels_linear_matches_libtorch_for_every_layout_and_activation) {
  c10::InferenceMode guard;
  ensure_threads_initialised();
  at::manual_seed(7);
  const at::Tensor w = at::randn({48, 40}) * 0.2, b = at::randn({48});
  // 2-D, 3-D, a transposed (non-contiguous) view, a single row, and a narrowed view of a bigger tensor.
  const std::vector<at::Tensor> inputs = {at::randn({5, 40}), at::randn({3, 7, 40}), at::randn({40, 6}).t(),
                                          at::randn({1, 40}), at::randn({4, 9, 40}).narrow(1, 2, 5)};
  for (const at::Tensor& x : inputs) {
    for (std::optional<Activation> act : {std::optional<Activation>{}, std::optional(Activation::kQuickGelu),
                                          std::optional(Activation::kGelu), std::optional(Activation::kGeluNew),
                                          std::optional(Activation::kRelu), std::optional(Activation::kSelu)}) {
      const std::string what = "linear " + shape_str(x.sizes()) + (act ? " with activation" : "");
      EXPECT_CLOSE(xclip::linear(x, w, b, {act}), reference_linear(x, w, b, act).to(at::kFloat), 1e-5, 1e-5, what);
      EXPECT_CLOSE(xclip::linear(x, w, {}, {act}), reference_linear(x, w, {}, act).to(at::kFloat), 1e-5, 1e-5, what + ", no bias");
    }
  }
  // bfloat16 rounds its inputs: compare against float32 of the same rounded values, at bf16 resolution.
  const at::Tensor x = at::randn({6, 40});
  const at::Tensor xb = x.to(at::kBFloat16), wb = w.to(at::kBFloat16), bb = b.to(at::kBFloat16);
  at::Tensor got = xclip::linear(xb, wb, bb, {Activation::kQuickGelu});
  EXPECT_TRUE(got.scalar_type() == at::kBFloat16);
  EXPECT_CLOSE(got.to(at::kFloat), reference_linear(xb.to(at::kFloat), wb.to(at::kFloat), bb.to(at::kFloat), Activation::kQuickGelu).to(at::kFloat),
               2e-2, 1e-2, "bf16 linear");
  // [K, N] weights (prompts_visual_projection).
  const at::Tensor p = at::randn({40, 24});
  const at::Tensor xs = at::randn({2, 3, 40});
  EXPECT_CLOSE(xclip::matmul(xs, p), at::matmul(xs.to(at::kDouble), p.to(at::kDouble)).to(at::kFloat), 1e-5, 1e-5,
               "matmul [K, N]");
}

TEST(kernels_bmm_matches_libtorch_through_strides) {
  c10::InferenceMode guard;
  ensure_threads_initialised();
  at::manual_seed(11);
  // The prompt generator's shapes: contiguous, a transposed view on either side, a transposed batch dim, and a
  // batch of one.
  const at::Tensor tokens = at::randn({6, 7, 40});
  const std::vector<std::pair<at::Tensor, at::Tensor>> cases = {
      {at::randn({6, 3, 40}), tokens.transpose(1, 2)},
      {at::randn({6, 3, 7}), tokens},
      {at::randn({3, 6, 5}).transpose(0, 1), at::randn({6, 5, 9})},
      {at::randn({4, 40, 2}).transpose(1, 2), at::randn({4, 9, 40}).transpose(1, 2)},
      {at::randn({1, 1, 40}), at::randn({1, 40, 1})}};
  for (const auto& [a, b] : cases) {
    EXPECT_CLOSE(xclip::bmm(a, b), at::bmm(a.to(at::kDouble), b.to(at::kDouble)).to(at::kFloat), 1e-5, 1e-5,
                 "bmm " + shape_str(a.sizes()) + " x " + shape_str(b.sizes()));
  }
  // Other dtypes go to libtorch unchanged.
  const at::Tensor ad = at::randn({2, 3, 4}, at::kDouble), bd = at::randn({2, 4, 5}, at::kDouble);
  EXPECT_TRUE(at::equal(xclip::bmm(ad, bd), at::bmm(ad, bd)));
}

TEST(kernels_aten_backend_is_exactly_libtorch) {
  c10::InferenceMode guard;
  BackendGuard restore;
  const at::Tensor x = at::randn({9, 32}), w = at::randn({16, 32}), b = at::randn({16});
  set_kernel_backend(KernelBackend::kATen);
  EXPECT_TRUE(get_kernel_backend() == KernelBackend::kATen);
  EXPECT_TRUE(at::equal(xclip::linear(x, w, b), at::linear(x, w, b)));
  const at::Tensor xb = x.to(at::kBFloat16), g = at::randn({32}).to(at::kBFloat16), s = at::randn({32}).to(at::kBFloat16);
  EXPECT_TRUE(at::equal(xclip::layer_norm(xb, g, s, 1e-5), at::layer_norm(xb, {32}, g, s, 1e-5)));
}

TEST(kernels_bf16_layer_norm_is_float32_layer_norm_rounded) {
  c10::InferenceMode guard;
  const at::Tensor x = (at::randn({3, 17, 64}) * 3 + 1).to(at::kBFloat16);
  const at::Tensor g = at::randn({64}).to(at::kBFloat16), s = at::randn({64}).to(at::kBFloat16);
  at::Tensor want = at::layer_norm(x.to(at::kFloat), {64}, g.to(at::kFloat), s.to(at::kFloat), 1e-5);
  at::Tensor got = xclip::layer_norm(x, g, s, 1e-5);
  EXPECT_TRUE(got.scalar_type() == at::kBFloat16 && got.sizes() == x.sizes());
  // One bf16 rounding of the result: relative 2^-8.
  EXPECT_CLOSE(got.to(at::kFloat), want, 1e-2, 8e-3, "bf16 layer_norm");
  // A non-contiguous input (the vision layer's narrowed residual stream).
  at::Tensor wide = at::randn({2, 9, 64}).to(at::kBFloat16);
  at::Tensor view = wide.narrow(1, 0, 8);
  EXPECT_CLOSE(xclip::layer_norm(view, g, s, 1e-5).to(at::kFloat),
               at::layer_norm(view.to(at::kFloat), {64}, g.to(at::kFloat), s.to(at::kFloat), 1e-5), 1e-2, 8e-3,
               "bf16 layer_norm of a view");
}

TEST(kernels_gemm_peak_is_measured) {
  GemmPeak p = measure_gemm_peak(at::kFloat, 0.05, 256, 128, 256);
  EXPECT_TRUE(p.gflops > 0);
  EXPECT_TRUE(p.backend == (onednn_built() ? "onednn-packed" : "aten"));
  EXPECT_ERROR(measure_gemm_peak(at::kHalf, 0.05), ErrorCode::kInvalidInput, "float32 or bfloat16");
}

TEST(cpu_allocator_reuses_freed_blocks_and_releases_them) {
  ensure_threads_initialised();  // installs the allocator
  release_cached_cpu_memory();
  EXPECT_EQ(cached_cpu_bytes(), size_t{0});
  void* first = nullptr;
  {
    at::Tensor big = at::empty({3 << 20}, at::kFloat);  // 12 MiB: a cached size class
    first = big.data_ptr();
  }
  EXPECT_TRUE(cached_cpu_bytes() >= size_t{12} << 20);
  {
    at::Tensor again = at::empty({3 << 20}, at::kFloat);
    EXPECT_TRUE(again.data_ptr() == first);  // the same block, no fresh pages to fault in
    EXPECT_EQ(cached_cpu_bytes(), size_t{0});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(again.data_ptr()) % 64, uintptr_t{0});
  }
  { at::Tensor small = at::ones({100}); EXPECT_EQ(small.sum().item<float>(), 100.f); }
  release_cached_cpu_memory();
  EXPECT_EQ(cached_cpu_bytes(), size_t{0});
}

// A micro-batcher's batches of 3 and then 2 videos ask for activation sizes an exact-size cache would miss.
TEST(cpu_allocator_serves_a_smaller_request_from_a_larger_free_block) {
  ensure_threads_initialised();
  release_cached_cpu_memory();
  void* first = nullptr;
  { at::Tensor three = at::empty({3 * (1 << 20)}, at::kFloat); first = three.data_ptr(); }  // 12 MiB
  {
    at::Tensor two = at::empty({2 * (1 << 20)}, at::kFloat);  // 8 MiB fits the 12 MiB block
    EXPECT_TRUE(two.data_ptr() == first);
    EXPECT_EQ(cached_cpu_bytes(), size_t{0});
  }
  EXPECT_EQ(cached_cpu_bytes(), size_t{12} << 20);  // back in its own class, not counted as 8 MiB
  {
    at::Tensor tiny = at::empty({1 << 18}, at::kFloat);  // 1 MiB: would waste more than half the block
    EXPECT_TRUE(tiny.data_ptr() != first);
    EXPECT_EQ(cached_cpu_bytes(), size_t{12} << 20);
  }
  release_cached_cpu_memory();
}

TEST(threads_default_to_a_positive_count) {
  EXPECT_TRUE(get_num_threads() >= 1);
}

TEST(compute_threads_reuse_one_thread_for_calls_made_one_after_another) {
  // Calls from four different threads, one at a time (as libuv's pool makes them), all run on compute thread 0.
  std::vector<int> seen;
  for (int i = 0; i < 4; ++i) {
    std::thread([&] { run_on_compute_thread([&] { seen.push_back(compute_thread_index()); }); }).join();
  }
  EXPECT_TRUE(seen == (std::vector<int>{0, 0, 0, 0}));
  EXPECT_EQ(compute_thread_index(), -1);
  // A call made from inside one runs inline, on the same compute thread.
  int outer = -2, inner = -2;
  run_on_compute_thread([&] {
    outer = compute_thread_index();
    run_on_compute_thread([&] { inner = compute_thread_index(); });
  });
  EXPECT_EQ(outer, 0);
  EXPECT_EQ(inner, 0);
}

TEST(compute_threads_run_concurrent_calls_concurrently_and_pass_exceptions_back) {
  // Two calls that each wait for the other to start: they would deadlock if the pool ran them one at a time
  // (bounded: each gives up after 10 s and the check fails instead).
  std::mutex m;
  std::condition_variable cv;
  int started = 0;
  std::atomic<int> met{0};
  auto call = [&] {
    run_on_compute_thread([&] {
      std::unique_lock<std::mutex> lock(m);
      ++started;
      cv.notify_all();
      if (cv.wait_for(lock, std::chrono::seconds(10), [&] { return started == 2; })) ++met;
    });
  };
  std::thread a(call), b(call);
  a.join();
  b.join();
  EXPECT_EQ(met.load(), 2);
  EXPECT_TRUE(compute_thread_count() >= 2);
  EXPECT_ERROR(run_on_compute_thread([] { throw Error(ErrorCode::kInvalidInput, "thrown on a compute thread"); }),
               ErrorCode::kInvalidInput, "thrown on a compute thread");
}
