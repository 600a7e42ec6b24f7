// Measurements for the bench and the CLI (xclip/bench.h), kept apart from the kernels inference runs.
#include "xclip/bench.h"

#include <chrono>

#include "onednn.h"
#include "xclip/error.h"
#include "xclip/runtime.h"

namespace xclip {

namespace {
template <class F>
double gflops_of(F&& fn, double flop, double seconds) {
  fn();  // JIT and first-touch costs stay out of the figure
  const auto t0 = std::chrono::steady_clock::now();
  int iters = 0;
  double elapsed = 0;
  do {
    fn();
    ++iters;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (elapsed < seconds);
  return flop * iters / elapsed / 1e9;
}
}  // namespace

GemmPeak measure_gemm_peak(at::ScalarType dtype, double seconds, int64_t m, int64_t k, int64_t n) {
  if (dtype != at::kFloat && dtype != at::kBFloat16) {
    throw Error(ErrorCode::kInvalidInput, "measure_gemm_peak: dtype must be float32 or bfloat16");
  }
  InferenceScope scope;
  const double flop = 2.0 * m * k * n;
  at::Tensor x = at::randn({m, k}).to(dtype), w = at::randn({n, k}).to(dtype);
  GemmPeak peak;
#ifdef XCLIP_WITH_ONEDNN
  try {
    const auto& eng = cpu_engine();
    using dnnl::memory;
    const memory::data_type dt = dnnl_type(dtype);
    memory::desc src_md({m, k}, dt, memory::format_tag::ab), dst_md({m, n}, dt, memory::format_tag::ab);
    memory::desc w_plain({k, n}, dt, memory::format_tag::ba), w_any({k, n}, dt, memory::format_tag::any);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, w_any, dst_md), eng);
    at::Tensor y = at::empty({m, n}, x.options());
    memory src(src_md, eng, x.data_ptr()), dst(dst_md, eng, y.data_ptr()), plain(w_plain, eng, w.data_ptr());
    memory packed(pd.weights_desc(), eng);
    dnnl::stream stream(eng);
    dnnl::reorder(plain, packed).execute(stream, plain, packed);
    dnnl::matmul mm(pd);
    peak.gflops = gflops_of(
        [&] {
          mm.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, packed}, {DNNL_ARG_DST, dst}});
          stream.wait();
        },
        flop, seconds);
    peak.backend = "onednn-packed";
    return peak;
  } catch (const dnnl::error&) {
  }
#endif
  peak.gflops = gflops_of([&] { at::linear(x, w); }, flop, seconds);
  peak.backend = "aten";
  return peak;
}

}  // namespace xclip
