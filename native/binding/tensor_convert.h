// Tensors and bytes across the N-API boundary.
// Outputs: an external ArrayBuffer owns a heap at::Tensor (its finalizer deletes it), so outputs reach JS without a
// copy; where the runtime refuses external buffers (napi_no_external_buffers_allowed, e.g. Electron's sandbox) or
// one this large, the bytes are copied instead.
// Inputs (CallMemory): a worker reads its inputs on another thread while JavaScript runs on, and N-API cannot stop
// JavaScript from transferring (detaching) an ArrayBuffer, shrinking a resizable one or rewriting its bytes, nor
// keep a detached buffer's memory alive: a reference to the typed array is not enough. So every input a call reads
// is either memory this addon handed out itself (an output of an earlier call: the worker co-owns its tensor, no
// copy, and no detach or GC can free it) or a copy made on the main thread before the call is queued.
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace xclip_binding {

// Counters read by the debug export; tests use them to prove which inputs and outputs were copied.
struct DebugCounters {
  std::atomic<int64_t> outputs_external{0};
  std::atomic<int64_t> outputs_copied{0};
  std::atomic<int64_t> outputs_live{0};  // external buffers not yet finalized
  std::atomic<int64_t> inputs_borrowed{0};  // inputs read by calls: pinned + copied
  std::atomic<int64_t> inputs_pinned{0};    // ... that were the addon's own output memory (no copy)
  std::atomic<int64_t> inputs_copied{0};    // ... that JavaScript allocated (copied at the call)
};
DebugCounters& debug_counters();
// Debug switch: take the copying path for every output, as where external buffers are refused.
std::atomic<bool>& force_copy_outputs();
// The largest external buffer the runtime takes (Node's buffer.constants.MAX_LENGTH, set when the addon loads);
// larger outputs are copied into a V8-owned buffer, or refused where no typed array can hold them.
std::atomic<size_t>& max_external_buffer_bytes();

// Bytes a worker may read for the whole call.
struct PinnedBytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool copied = false;
};

// The memory one call reads from JavaScript (the rule above), owned by the worker until it is deleted. Use it for
// every typed array a call reads, on the main thread while the call is set up. Memory a call writes (a caller's
// array, e.g. one video's slot of a batch) follows the same rule: write() returns where the worker writes, the
// array itself when it is the addon's memory (co-owned, so nothing can free it meanwhile), else a native scratch;
// write_back() in Result(), on the main thread, checks that the array is still the one it was (not detached nor
// resized: the result is then dropped, INVALID_INPUT) and copies a scratch in.
class CallMemory {
 public:
  PinnedBytes read(const Napi::TypedArray& array);
  uint8_t* write(const Napi::TypedArray& array);  // array's byte length bytes (null for none), holding its values
  void write_back(Napi::Env env);
  const std::vector<std::pair<const uint8_t*, size_t>>& ranges() const { return ranges_; }  // what read() returned

 private:
  std::vector<at::Tensor> owners_;  // pinned output tensors and copies
  std::vector<std::pair<const uint8_t*, size_t>> ranges_;
  struct Pending {
    Napi::ObjectReference array;
    uint8_t* data;      // where the array's bytes were
    size_t bytes;
    at::Tensor scratch;  // undefined when written in place
  };
  std::vector<Pending> writes_;
};

// A typed array seen on the main thread; turned into a tensor inside Execute (no JS access there).
struct BorrowedTensor {
  bool defined = false;
  const void* data = nullptr;
  size_t byte_length = 0;
  std::vector<int64_t> dims;
  at::ScalarType dtype = at::kFloat;
  std::string name;

  at::Tensor tensor() const;  // undefined when !defined; valid while the call's CallMemory lives
};

// Reads {type, data, dims} (an xclip Tensor or its plain shape). `name` is used in messages.
// Returns an undefined BorrowedTensor for undefined/null. The data is read through `memory`.
BorrowedTensor borrow_tensor(const Napi::Value& value, const std::string& name, CallMemory& memory);

// Prepares a tensor for handing to JS; run on the worker thread (contiguous, CPU, a dtype JS can view).
at::Tensor prepare_output(const at::Tensor& t);

// Converts prepared tensors to {type, data, dims}. One instance per result: tensors sharing a data pointer
// share one ArrayBuffer (V8 must not see two backing stores over the same bytes), and anything aliasing an
// input buffer is copied so the output never points into memory another buffer already shows.
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

// Splits t along dim 0 into consecutive views of at most max_bytes each (at least one row each): Node's buffers hold
// at most 4 GiB (2^32 bytes in Node 20), and a video's frames may take up to 8 GiB. The views share t's storage.
std::vector<at::Tensor> split_rows(const at::Tensor& t, size_t max_bytes);
constexpr size_t kMaxOutputChunkBytes = size_t{1} << 31;

}  // namespace xclip_binding
