// Memory a worker writes into while JavaScript holds the array: a caller's batch slot (prepare/preprocess with a
// destination). The rule for such memory: a worker never writes into a buffer that is detached or resizable when
// the call starts, nor into memory that a transfer (structuredClone/postMessage with transfer, ArrayBuffer
// transfer()) and a GC could free while it runs, and the result is reported only if the array is still attached
// and of the same length when the call completes (INVALID_INPUT otherwise; nothing is written then).
//
// Arrays from allocPinned() are backed by reference-counted native memory: a worker holds a reference on the
// block, so it writes in place (no copy) whatever JS does to the array meanwhile. Any other Float32Array is
// written through a private buffer and copied in on the main thread when the call completes.
#pragma once

#include <napi.h>

#include <cstddef>
#include <memory>
#include <string>

#include <ATen/ATen.h>

namespace xclip_binding {

// The pinned block holding [data, data + bytes), or null when that memory is not from allocPinned().
std::shared_ptr<const void> pin_of(const void* data, size_t bytes);

// allocPinned(length) -> Float32Array of `length` zeros over native memory (a plain Float32Array where the runtime
// refuses external buffers; the destination rule then copies).
Napi::Value AllocPinned(const Napi::CallbackInfo& info);

class Destination {
 public:
  Destination() = default;
  // Main thread. Undefined/null: no destination. Else a Float32Array that is neither detached nor resizable.
  // Lives in a worker, which is destroyed on the main thread (it holds a JS reference).
  Destination(const Napi::Value& value, const std::string& name);

  bool defined() const { return !ref_.IsEmpty(); }
  // Worker thread: where to write `length()` floats (the caller's memory when pinned, else a private buffer).
  float* data();
  int64_t length() const { return static_cast<int64_t>(length_); }

  // Main thread, after the worker wrote data(): checks the array is still attached, copies a private buffer in,
  // and returns the array.
  Napi::Value finish(Napi::Env env);

 private:
  Napi::ObjectReference ref_;
  std::string name_;
  float* target_ = nullptr;
  size_t length_ = 0;
  std::shared_ptr<const void> pin_;
  at::Tensor staging_;
};

}  // namespace xclip_binding
