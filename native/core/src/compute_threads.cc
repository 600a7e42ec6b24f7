// The threads model calls run on (run_on_compute_thread in runtime.h).
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "xclip/runtime.h"

namespace xclip {

namespace {
thread_local int t_compute_index = -1;

class ComputeThreads {
 public:
  void run(const std::function<void()>& job) {
    std::exception_ptr error;
    bool finished = false;
    std::unique_lock<std::mutex> lock(mutex_);
    Slot* slot = nullptr;
    for (const auto& s : slots_) {
      if (s->job == nullptr) {
        slot = s.get();
        break;
      }
    }
    if (slot == nullptr) {
      slots_.push_back(std::make_unique<Slot>());
      slot = slots_.back().get();
      // Detached and never joined: the pool lives as long as the process (an exiting process may still have a
      // call in flight on another thread, and static destructors must not wait for it).
      std::thread(&ComputeThreads::loop, this, slot, static_cast<int>(slots_.size()) - 1).detach();
    }
    slot->job = &job;
    slot->error = &error;
    slot->finished = &finished;
    slot->wake.notify_one();
    done_.wait(lock, [&] { return finished; });
    lock.unlock();
    if (error) std::rethrow_exception(error);
  }

  int threads() {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(slots_.size());
  }

 private:
  struct Slot {
    const std::function<void()>* job = nullptr;  // set while a call is handed to this thread
    std::exception_ptr* error = nullptr;
    bool* finished = nullptr;
    std::condition_variable wake;
  };

  void loop(Slot* slot, int index) {
    t_compute_index = index;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      slot->wake.wait(lock, [&] { return slot->job != nullptr; });
      const std::function<void()>* job = slot->job;
      lock.unlock();
      try {
        (*job)();
      } catch (...) {
        *slot->error = std::current_exception();
      }
      lock.lock();
      *slot->finished = true;
      slot->job = nullptr;
      done_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

// Never destroyed, for the same reason its threads are detached.
ComputeThreads& compute_threads() {
  static auto* pool = new ComputeThreads();
  return *pool;
}
}  // namespace

void run_on_compute_thread(const std::function<void()>& job) {
  if (t_compute_index >= 0) {
    job();  // a model call made from inside another one
    return;
  }
  compute_threads().run(job);
}

int compute_thread_index() { return t_compute_index; }
int compute_thread_count() { return compute_threads().threads(); }

}  // namespace xclip
