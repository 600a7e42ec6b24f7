// Base for every asynchronous operation: a promise, Execute on a libuv pool thread under InferenceMode, and the
// error mapping of errors.h. What a call reads from JavaScript memory goes through memory_ (tensor_convert.h: the
// addon's own outputs are co-owned, anything else copied while the call is set up), which lives until the worker
// is deleted on the main thread, after the promise settles.
//
// The completion also runs while its environment is torn down (a worker_thread terminated, or exiting, while the
// call runs: Node drains pending work before it runs the environment's cleanup hooks). Then no JavaScript can
// run, every N-API call fails, and the result is dropped; nothing may escape the completion, since an exception
// there would reach libuv and abort the whole process.
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "errors.h"
#include "tensor_convert.h"

namespace xclip_binding {

// An External that owns `object` (its finalizer deletes it). Made in a Result(), where the environment may be
// torn down: the External's creation then fails, and `object` is deleted here rather than leaked.
template <class T>
Napi::External<T> owned_external(Napi::Env env, std::unique_ptr<T> object) {
  Napi::External<T> external = Napi::External<T>::New(env, object.get(), [](Napi::Env, T* p) { delete p; });
  object.release();
  return external;
}

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env)
      : Napi::AsyncWorker(env, "xclip"), deferred_(Napi::Promise::Deferred::New(env)) {}

  // Queues the worker and hands back its promise.
  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    pending_.fetch_add(1, std::memory_order_relaxed);
    Queue();
    return promise;
  }

  // Calls queued or running and not yet settled, in this process (all environments). Node's exit waits for
  // running ones to finish, so a caller about to exit can wait for zero.
  static int Pending() { return pending_.load(std::memory_order_relaxed); }

 protected:
  virtual void Run() = 0;                          // worker thread; no JS access
  virtual Napi::Value Result(Napi::Env env) = 0;   // main thread

  BorrowedTensor Borrow(const Napi::Value& value, const std::string& name) {
    BorrowedTensor t = borrow_tensor(value, name, memory_);
    inputs_.push_back(t);
    return t;
  }

  CallMemory memory_;
  std::vector<BorrowedTensor> inputs_;

 private:
  void Execute() override;
  void OnWorkComplete(Napi::Env env, napi_status status) override;
  void Settle(Napi::Env env);

  Napi::Promise::Deferred deferred_;
  bool failed_ = false;
  ErrorInfo error_;
  static std::atomic<int> pending_;
};

// Loads a `T` from a model directory on a pool thread, then answers with `answer(env, loaded)` on the main thread:
// the tokenizer's and the image processor's `load(dir)`.
template <class T>
class DirLoadWorker : public PromiseWorker {
 public:
  using Load = T (*)(const std::string& dir);
  using Answer = Napi::Value (*)(Napi::Env env, std::shared_ptr<const T> loaded);

  DirLoadWorker(Napi::Env env, std::string dir, Load load, Answer answer)
      : PromiseWorker(env), dir_(std::move(dir)), load_(load), answer_(answer) {}

 protected:
  void Run() override { loaded_ = std::make_shared<const T>(load_(dir_)); }
  Napi::Value Result(Napi::Env env) override { return answer_(env, loaded_); }

 private:
  std::string dir_;
  Load load_;
  Answer answer_;
  std::shared_ptr<const T> loaded_;
};

}  // namespace xclip_binding
