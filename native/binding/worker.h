// Base for every asynchronous operation: a promise, Execute on a libuv pool thread under InferenceMode, and the
// error mapping of errors.h. The JS values a call borrows are referenced in refs_ until the worker is deleted on
// the main thread, after the promise settles.
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

#include <vector>

#include "errors.h"
#include "tensor_convert.h"

namespace xclip_binding {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env)
      : Napi::AsyncWorker(env, "xclip"), deferred_(Napi::Promise::Deferred::New(env)) {}

  // Queues the worker and hands back its promise.
  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

 protected:
  virtual void Run() = 0;                          // worker thread; no JS access
  virtual Napi::Value Result(Napi::Env env) = 0;   // main thread

  BorrowedTensor Borrow(const Napi::Value& value, const std::string& name) {
    BorrowedTensor t = borrow_tensor(value, name, refs_);
    inputs_.push_back(t);
    return t;
  }

  std::vector<Napi::ObjectReference> refs_;
  std::vector<BorrowedTensor> inputs_;

 private:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

  Napi::Promise::Deferred deferred_;
  ErrorInfo error_;
};

}  // namespace xclip_binding
