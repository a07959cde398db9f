// A small fork-join loop over [0, n): plain std::threads per call, dynamic chunks, exceptions from any
// worker rethrown in the caller. Per-call threads keep the addon free of global pools (safe under
// worker_threads and at environment teardown); the spawn cost is amortised by `grain`.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace semrec {

// How many workers parallelFor will use for n items in chunks of `grain`.
inline int plannedWorkers(int64_t n, int64_t grain, int numThreads) {
  if (n <= 0) return 1;
  const int64_t chunks = (n + grain - 1) / grain;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(numThreads, chunks)));
}

// fn(begin, end, worker) is called on disjoint chunks; worker < plannedWorkers(n, grain, numThreads).
template <class Fn>
void parallelFor(int64_t n, int64_t grain, int numThreads, Fn&& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int workers = plannedWorkers(n, grain, numThreads);
  if (workers == 1) {
    fn(int64_t{0}, n, 0);
    return;
  }
  std::atomic<int64_t> next{0};
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  std::mutex errorMutex;
  auto work = [&](int worker) {
    try {
      while (!stop.load(std::memory_order_relaxed)) {
        const int64_t begin = next.fetch_add(grain, std::memory_order_relaxed);
        if (begin >= n) break;
        fn(begin, std::min(begin + grain, n), worker);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(errorMutex);
      if (!error) error = std::current_exception();
      stop = true;
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  for (int w = 1; w < workers; ++w) {
    try {
      threads.emplace_back(work, w);
    } catch (const std::system_error&) {
      break;  // the OS refused another thread: the ones we have share the work
    }
  }
  work(0);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace semrec
