#include "worker.h"

#include "xclip/runtime.h"

namespace xclip_binding {

std::atomic<int> PromiseWorker::pending_{0};

void PromiseWorker::Execute() {
  try {
    xclip::InferenceScope scope;
    Run();
  } catch (...) {
    failed_ = true;
    error_ = current_exception_info();
  }
}

// Replaces AsyncWorker's completion, whose error path throws out of the libuv callback when the environment is
// going away.
void PromiseWorker::OnWorkComplete(Napi::Env env, napi_status status) {
  pending_.fetch_sub(1, std::memory_order_relaxed);
  if (status != napi_cancelled) {
    try {
      Settle(env);
    } catch (...) {
      // The environment is being torn down: nobody is left to receive the result; it is freed with the worker.
    }
  }
  Destroy();
}

void PromiseWorker::Settle(Napi::Env env) {
  Napi::HandleScope scope(env);
  if (failed_) {
    deferred_.Reject(make_error(env, error_).Value());
    return;
  }
  Napi::Value result;
  try {
    result = Result(env);
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
    return;
  } catch (...) {
    deferred_.Reject(make_error(env, current_exception_info()).Value());
    return;
  }
  deferred_.Resolve(result);
}

}  // namespace xclip_binding
