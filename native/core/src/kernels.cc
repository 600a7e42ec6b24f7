// CPU kernel dispatch: oneDNN for Linear and bfloat16 LayerNorm where built in (see kernels.h), else libtorch.
#include "kernels.h"

#include "onednn.h"
#include "xclip/error.h"
#include "xclip/runtime.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace xclip {

namespace {

KernelBackend initial_backend() {
  const char* env = std::getenv("XCLIP_KERNELS");
  if (env && std::strcmp(env, "aten") == 0) return KernelBackend::kATen;
  return KernelBackend::kAuto;
}

std::atomic<KernelBackend>& backend_slot() {
  static std::atomic<KernelBackend> b{initial_backend()};
  return b;
}

#ifdef XCLIP_WITH_ONEDNN
using dnnl::memory;

// The oneDNN eltwise post-op computing `act` exactly as apply_activation defines it, if there is one.
std::optional<std::pair<dnnl::algorithm, float>> eltwise_of(Activation act) {
  switch (act) {
    case Activation::kGelu: return std::make_pair(dnnl::algorithm::eltwise_gelu_erf, 0.f);
    case Activation::kGeluNew: return std::make_pair(dnnl::algorithm::eltwise_gelu_tanh, 0.f);
    case Activation::kRelu: return std::make_pair(dnnl::algorithm::eltwise_relu, 0.f);
    case Activation::kQuickGelu: return std::make_pair(dnnl::algorithm::eltwise_swish, 1.702f);  // x*sigmoid(1.702x)
    case Activation::kSelu: return std::nullopt;
  }
  return std::nullopt;
}

// `transposed`: weight is [N, K] (nn.Linear), else [K, N].
bool onednn_applies(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, bool transposed,
                    const Epilogue& epilogue) {
  if (epilogue.act && !eltwise_of(*epilogue.act)) return false;
  if (backend_slot().load(std::memory_order_relaxed) != KernelBackend::kAuto) return false;
  if (!x.device().is_cpu() || x.dim() < 1 || x.numel() == 0) return false;
  const auto t = x.scalar_type();
  if ((t != at::kFloat && t != at::kBFloat16) || weight.scalar_type() != t || weight.dim() != 2) return false;
  if (bias.defined() && bias.scalar_type() != t) return false;
  return x.size(-1) == weight.size(transposed ? 1 : 0);
}

at::Tensor onednn_matmul(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, bool transposed,
                         const Epilogue& epilogue) {
  const int64_t k = weight.size(transposed ? 1 : 0), n = weight.size(transposed ? 0 : 1);
  const at::Tensor src = x.reshape({-1, k}).contiguous();
  const at::Tensor w = weight.contiguous();
  const int64_t m = src.size(0);
  const memory::data_type dt = dnnl_type(x.scalar_type());
  // nn.Linear's weight [N, K] row-major is the [K, N] matrix oneDNN wants in format "ba": used where it lies.
  memory::desc src_md({m, k}, dt, memory::format_tag::ab);
  memory::desc w_md({k, n}, dt, transposed ? memory::format_tag::ba : memory::format_tag::ab);
  memory::desc dst_md({m, n}, dt, memory::format_tag::ab);
  memory::desc b_md = bias.defined() ? memory::desc({1, n}, dt, memory::format_tag::ab) : memory::desc();
  dnnl::primitive_attr attr;
  if (epilogue.act) {
    const auto eltwise = eltwise_of(*epilogue.act);
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, eltwise->first, eltwise->second, 0.f);
    attr.set_post_ops(ops);
  }
  // A caller-owned scratchpad makes concurrent calls of the same primitive (two models, two workers) safe.
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  // oneDNN's primitive cache makes re-creating the same shape cheap (a hash lookup, no JIT).
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, w_md, b_md, dst_md), attr, cpu_engine());
  at::Tensor dst = at::empty({m, n}, x.options());
  at::Tensor scratch = at::empty({static_cast<int64_t>(pd.scratchpad_desc().get_size())}, x.options().dtype(at::kByte));
  const auto& eng = cpu_engine();
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, memory(src_md, eng, src.data_ptr())},
      {DNNL_ARG_WEIGHTS, memory(w_md, eng, w.data_ptr())},
      {DNNL_ARG_DST, memory(dst_md, eng, dst.data_ptr())},
      {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), eng, scratch.data_ptr())}};
  const at::Tensor b = bias.defined() ? bias.contiguous() : bias;
  if (b.defined()) args.emplace(DNNL_ARG_BIAS, memory(b_md, eng, b.data_ptr()));
  dnnl::stream stream(eng);
  dnnl::matmul(pd).execute(stream, args);
  stream.wait();
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = n;
  return dst.view(shape);
}

// Strides in elements, as oneDNN's plain memory descriptors take them.
memory::dims strides_of(const at::Tensor& t) { return memory::dims(t.strides().begin(), t.strides().end()); }

at::Tensor onednn_bmm(const at::Tensor& a, const at::Tensor& b) {
  const int64_t batch = a.size(0), m = a.size(1), k = a.size(2), n = b.size(2);
  memory::desc a_md({batch, m, k}, memory::data_type::f32, strides_of(a));
  memory::desc b_md({batch, k, n}, memory::data_type::f32, strides_of(b));
  memory::desc c_md({batch, m, n}, memory::data_type::f32, memory::format_tag::abc);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, cpu_engine());
  at::Tensor c = at::empty({batch, m, n}, a.options());
  at::Tensor scratch = at::empty({static_cast<int64_t>(pd.scratchpad_desc().get_size())}, a.options().dtype(at::kByte));
  const auto& eng = cpu_engine();
  dnnl::stream stream(eng);
  dnnl::matmul(pd).execute(stream, {{DNNL_ARG_SRC, memory(a_md, eng, a.data_ptr())},
                                    {DNNL_ARG_WEIGHTS, memory(b_md, eng, b.data_ptr())},
                                    {DNNL_ARG_DST, memory(c_md, eng, c.data_ptr())},
                                    {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), eng, scratch.data_ptr())}});
  stream.wait();
  return c;
}

at::Tensor onednn_layer_norm_bf16(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
  const int64_t d = x.size(-1);
  const at::Tensor src = x.reshape({-1, d}).contiguous();
  const auto& eng = cpu_engine();
  memory::desc md({src.size(0), d}, memory::data_type::bf16, memory::format_tag::ab);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::layer_normalization_forward::primitive_desc pd(
      dnnl::layer_normalization_forward::desc(dnnl::prop_kind::forward_inference, md, static_cast<float>(eps),
                                              dnnl::normalization_flags::use_scale |
                                                  dnnl::normalization_flags::use_shift),
      attr, eng);
  at::Tensor dst = at::empty_like(src);
  at::Tensor scratch = at::empty({static_cast<int64_t>(pd.scratchpad_desc().get_size())}, x.options().dtype(at::kByte));
  const at::Tensor scale = weight.to(at::kFloat).contiguous(), shift = bias.to(at::kFloat).contiguous();
  dnnl::stream stream(eng);
  dnnl::layer_normalization_forward(pd).execute(
      stream, {{DNNL_ARG_SRC, memory(md, eng, src.data_ptr())},
               {DNNL_ARG_DST, memory(md, eng, dst.data_ptr())},
               {DNNL_ARG_SCALE, memory(pd.weights_desc(), eng, scale.data_ptr())},
               {DNNL_ARG_SHIFT, memory(pd.weights_desc(), eng, shift.data_ptr())},
               {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), eng, scratch.data_ptr())}});
  stream.wait();
  return dst.view(x.sizes());
}
#endif

}  // namespace

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
#ifdef XCLIP_WITH_ONEDNN
  if (backend_slot().load(std::memory_order_relaxed) == KernelBackend::kAuto && x.device().is_cpu() &&
      x.scalar_type() == at::kBFloat16 && x.numel() > 0 && weight.defined() && bias.defined()) {
    try {
      return onednn_layer_norm_bf16(x, weight, bias, eps);
    } catch (const dnnl::error&) {
    }
  }
#endif
  return at::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

void set_kernel_backend(KernelBackend b) { backend_slot() = b; }
KernelBackend get_kernel_backend() { return backend_slot(); }

bool onednn_built() {
#ifdef XCLIP_WITH_ONEDNN
  return true;
#else
  return false;
#endif
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const Epilogue& epilogue) {
#ifdef XCLIP_WITH_ONEDNN
  if (onednn_applies(x, weight, bias, true, epilogue)) {
    try {
      return onednn_matmul(x, weight, bias, true, epilogue);
    } catch (const dnnl::error&) {
      // A shape or ISA oneDNN has no kernel for: libtorch computes the same thing.
    }
  }
#endif
  at::Tensor y = at::linear(x, weight, bias);
  return epilogue.act ? apply_activation(*epilogue.act, y) : y;
}

at::Tensor matmul(const at::Tensor& x, const at::Tensor& weight) {
#ifdef XCLIP_WITH_ONEDNN
  if (onednn_applies(x, weight, {}, false, {})) {
    try {
      return onednn_matmul(x, weight, {}, false, {});
    } catch (const dnnl::error&) {
    }
  }
#endif
  return at::matmul(x, weight);
}

at::Tensor bmm(const at::Tensor& a, const at::Tensor& b) {
#ifdef XCLIP_WITH_ONEDNN
  if (backend_slot().load(std::memory_order_relaxed) == KernelBackend::kAuto && a.device().is_cpu() &&
      b.device().is_cpu() && a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat && a.dim() == 3 &&
      b.dim() == 3 && a.size(0) == b.size(0) && a.size(2) == b.size(1) && a.numel() > 0 && b.numel() > 0) {
    try {
      return onednn_bmm(a, b);
    } catch (const dnnl::error&) {
      // Strides oneDNN has no kernel for: libtorch computes the same thing.
    }
  }
#endif
  return at::bmm(a, b);
}

}  // namespace xclip
