// Tensors across the N-API boundary without copies.
// Inputs: a JS typed array is borrowed (at::from_blob over its backing store); the worker keeps a reference to
// the array until it is destroyed on the main thread, so the memory outlives Execute.
// Outputs: an external ArrayBuffer owns a heap at::Tensor (its finalizer deletes it); where the runtime refuses
// external buffers (napi_no_external_buffers_allowed, e.g. Electron's sandbox) the bytes are copied instead.
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace xclip_binding {

// Counters read by the debug export; tests use them to prove that outputs are not copied.
struct DebugCounters {
  std::atomic<int64_t> outputs_external{0};
  std::atomic<int64_t> outputs_copied{0};
  std::atomic<int64_t> outputs_live{0};  // external buffers not yet finalized
  std::atomic<int64_t> inputs_borrowed{0};
};
DebugCounters& debug_counters();
// Debug switch: take the copying path for every output, as where external buffers are refused.
std::atomic<bool>& force_copy_outputs();

// A typed array seen on the main thread; turned into a tensor inside Execute (no JS access there).
struct BorrowedTensor {
  bool defined = false;
  void* data = nullptr;
  size_t byte_length = 0;
  std::vector<int64_t> dims;
  at::ScalarType dtype = at::kFloat;
  std::string name;

  at::Tensor tensor() const;  // undefined when !defined
};

// Reads {type, data, dims} (an xclip Tensor or its plain shape). `name` is used in messages.
// Returns an undefined BorrowedTensor for undefined/null. Keeps the typed array alive through `refs`.
BorrowedTensor borrow_tensor(const Napi::Value& value, const std::string& name,
                             std::vector<Napi::ObjectReference>& refs);

// Prepares a tensor for handing to JS; run on the worker thread (contiguous, CPU, a dtype JS can view).
at::Tensor prepare_output(const at::Tensor& t);

// Converts prepared tensors to {type, data, dims}. One instance per result: tensors sharing a data pointer
// share one ArrayBuffer (V8 must not see two backing stores over the same bytes), and anything aliasing an
// input buffer is copied so the output never points into caller memory.
class OutputBuilder {
 public:
  OutputBuilder(Napi::Env env, const std::vector<BorrowedTensor>& inputs);
  Napi::Value tensor(const at::Tensor& t);  // undefined for an undefined tensor
  Napi::Array tensors(const std::vector<at::Tensor>& ts);

 private:
  Napi::Env env_;
  std::vector<std::pair<const uint8_t*, const uint8_t*>> input_ranges_;
  struct Seen {
    const void* ptr;
    size_t bytes;
    Napi::ArrayBuffer buffer;
  };
  std::vector<Seen> seen_;
  Napi::ArrayBuffer buffer_for(const at::Tensor& t, size_t bytes);
};

const char* dtype_name(at::ScalarType t);

}  // namespace xclip_binding
