#include "worker.h"

#include "xclip/runtime.h"

namespace xclip_binding {

std::atomic<int> PromiseWorker::pending_{0};

void PromiseWorker::Execute() {
  try {
    xclip::InferenceScope scope;
    Run();
  } catch (...) {
    error_ = current_exception_info();
    SetError(error_.message);
  }
}

void PromiseWorker::OnOK() {
  pending_.fetch_sub(1, std::memory_order_relaxed);
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  try {
    deferred_.Resolve(Result(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  } catch (...) {
    deferred_.Reject(make_error(env, current_exception_info()).Value());
  }
}

void PromiseWorker::OnError(const Napi::Error&) {
  pending_.fetch_sub(1, std::memory_order_relaxed);
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  deferred_.Reject(make_error(env, error_).Value());
}

}  // namespace xclip_binding
