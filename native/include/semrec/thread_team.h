// A team of worker threads that lives for one op call (created and joined inside it, like parallelFor's
// threads, so the addon still holds no global pool), for ops that run many short parallel phases: a
// LightGCN epoch runs about eight per mini-batch, where starting threads for each would cost as much
// as the work. Each phase is a fork-join loop over [0, n) in dynamic chunks, with parallelFor's
// contract: fn(begin, end, worker) on disjoint chunks, the first exception rethrown in the caller.
// Idle workers spin briefly (phases follow each other within microseconds), then sleep.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace semrec {

class ThreadTeam {
 public:
  explicit ThreadTeam(int numThreads) {
    const int extra = std::max(0, numThreads - 1);
    workers_.reserve(extra);
    for (int w = 1; w <= extra; ++w) {
      try {
        workers_.emplace_back([this, w] { workerLoop(w); });
      } catch (const std::system_error&) {
        break;  // the OS refused another thread: the ones we have share the work
      }
    }
  }
  ~ThreadTeam() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  // Threads taking part in each phase (the caller included).
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  template <class Fn>
  void parallelFor(int64_t n, int64_t grain, Fn&& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    if (workers_.empty() || n <= grain) {
      fn(int64_t{0}, n, 0);
      return;
    }
    using F = std::remove_reference_t<Fn>;
    job_ = {[](void* ctx, int64_t b, int64_t e, int w) { (*static_cast<F*>(ctx))(b, e, w); }, &fn, n, grain};
    next_.store(0, std::memory_order_relaxed);
    stop_.store(false, std::memory_order_relaxed);
    error_ = nullptr;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleepers_.load(std::memory_order_acquire) > 0) wake_.notify_all();
    runChunks(0);
    // Wait for the workers to leave this phase.
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < kSpins) pause();
      else {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
      }
    }
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // About 20-50 microseconds of spinning before a wait sleeps.
  static constexpr int kSpins = 2000;

  struct Job {
    void (*call)(void*, int64_t, int64_t, int) = nullptr;
    void* ctx = nullptr;
    int64_t n = 0, grain = 1;
  };

  static void pause() {
#if defined(__x86_64__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
  }

  void runChunks(int worker) {
    try {
      while (!stop_.load(std::memory_order_relaxed)) {
        const int64_t begin = next_.fetch_add(job_.grain, std::memory_order_relaxed);
        if (begin >= job_.n) break;
        job_.call(job_.ctx, begin, std::min(begin + job_.grain, job_.n), worker);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
      stop_ = true;
    }
  }

  void workerLoop(int worker) {
    uint64_t seen = 0;
    for (;;) {
      // Wait for the next phase.
      for (int spin = 0; generation_.load(std::memory_order_acquire) == seen; ++spin) {
        if (spin < kSpins) pause();
        else {
          std::unique_lock<std::mutex> lock(mutex_);
          sleepers_.fetch_add(1, std::memory_order_acq_rel);
          wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
          sleepers_.fetch_sub(1, std::memory_order_acq_rel);
        }
      }
      seen = generation_.load(std::memory_order_acquire);
      if (quit_) return;
      runChunks(worker);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  Job job_;
  std::atomic<int64_t> next_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<uint64_t> generation_{0};
  bool quit_ = false;
  std::exception_ptr error_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
};

}  // namespace semrec
