// Node-free benchmark of the native ops, CPU and (when a GPU is present) CUDA, printed as one JSON
// object. Each timing is end to end as a caller sees it (host arrays in, host arrays out, transfers
// included), the median of repeated runs after a warm-up, on random data.
//   semrec_native_bench [--quick] [--threads N] [--runs N]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "../tests/fixtures.h"
#include "semrec/device.h"
#include "semrec/metrics.h"
#include "semrec/parallel.h"
#include "semrec/score.h"
#include "semrec/topk.h"
#include "transformer_bench.h"

using namespace semrec;

namespace {

struct Timing {
  double median = 0, min = 0;
  int runs = 0;
};

Timing timeIt(int runs, const std::function<void()>& body) {
  body();  // warm-up: first-touch pages, CUDA context and memory pool
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    body();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), runs};
}

std::string jsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::vector<std::string> results;

void emit(const std::string& op, const char* device, int64_t rows, int64_t cols, int64_t dim, int64_t k, const Timing& t,
          double bytes, double flops) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "{\"op\":\"%s\",\"device\":\"%s\",\"rows\":%lld,\"cols\":%lld,\"dim\":%lld,\"k\":%lld,\"msMedian\":%.4f,"
                "\"msMin\":%.4f,\"runs\":%d,\"gbPerSecond\":%.3f,\"gflopPerSecond\":%.3f}",
                op.c_str(), device, static_cast<long long>(rows), static_cast<long long>(cols), static_cast<long long>(dim),
                static_cast<long long>(k), t.median, t.min, t.runs, bytes / t.median / 1e6, flops / t.median / 1e6);
  results.emplace_back(buf);
  std::fprintf(stderr, "%-16s %-5s %7lldx%-6lld dim=%-4lld k=%-3lld %10.3f ms\n", op.c_str(), device,
               static_cast<long long>(rows), static_cast<long long>(cols), static_cast<long long>(dim),
               static_cast<long long>(k), t.median);
}

// The memory-bandwidth floor: one multi-threaded read of the matrix, nothing else.
double readOnlyPass(const std::vector<float>& s, int threads) {
  std::atomic<int64_t> sink{0};
  parallelFor(static_cast<int64_t>(s.size()), int64_t{1} << 18, threads, [&](int64_t b, int64_t e, int) {
    float acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = b; i < e; ++i) acc += s[i];
    sink += static_cast<int64_t>(acc);
  });
  return static_cast<double>(sink.load());
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int threads = hardwareThreads(), runs = 7;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::atoi(argv[++i]);
  }
  const ExecConfig config{threads};
  const DeviceInfo info = deviceInfo();
  const bool gpu = info.cudaAvailable;
  fixtures::Random rng(2024);

  struct Size {
    int64_t users, items;
  };
  const std::vector<Size> rankSizes = quick ? std::vector<Size>{{2000, 1000}} : std::vector<Size>{{10000, 5000}, {100000, 10000}};
  for (const Size& size : rankSizes) {
    const auto scores = rng.scores(size.users, size.items, false);
    const auto truth = rng.csr(size.users, size.items, 10);
    const auto exclude = rng.csr(size.users, size.items, 50);
    const double bytes = static_cast<double>(scores.size()) * sizeof(float);
    emit("readFloor", "cpu", size.users, size.items, 0, 0, timeIt(runs, [&] { readOnlyPass(scores, threads); }), bytes, 0);
    MetricLayout layout;
    layout.ks = {10};
    std::vector<std::vector<float>> perUser(layout.numPerUser(), std::vector<float>(size.users));
    MetricsOutput out;
    for (auto& v : perUser) out.perUser.push_back(v.data());
    const MatrixView view{scores.data(), size.users, size.items};
    emit("rankingMetrics", "cpu", size.users, size.items, 0, 10,
         timeIt(runs, [&] { rankingMetricsCpu(view, truth.view(), exclude.view(), {}, layout, out, config); }), bytes, 0);
    if (gpu)
      emit("rankingMetrics", "cuda", size.users, size.items, 0, 10,
           timeIt(runs, [&] { rankingMetricsCuda(view, truth.view(), exclude.view(), {}, layout, out, config); }), bytes, 0);
    std::vector<int32_t> cols(size.users * 10);
    std::vector<float> top(size.users * 10);
    emit("topK", "cpu", size.users, size.items, 0, 10,
         timeIt(runs, [&] { topKCpu(view, exclude.view(), 10, cols.data(), top.data(), config); }), bytes, 0);
    if (gpu)
      emit("topK", "cuda", size.users, size.items, 0, 10,
           timeIt(runs, [&] { topKCuda(view, exclude.view(), 10, cols.data(), top.data(), config); }), bytes, 0);
  }

  const Size scoreSize = quick ? Size{2000, 2000} : Size{20000, 10000};
  for (int64_t dim : quick ? std::vector<int64_t>{64} : std::vector<int64_t>{64, 256, 768}) {
    std::vector<float> users(scoreSize.users * dim), items(scoreSize.items * dim);
    for (float& v : users) v = rng.uniform();
    for (float& v : items) v = rng.uniform();
    const EmbeddingView e{users.data(), scoreSize.users, items.data(), scoreSize.items, dim, nullptr};
    const double flops = 2.0 * scoreSize.users * scoreSize.items * dim;
    std::vector<int32_t> cols(scoreSize.users * 10);
    std::vector<float> top(scoreSize.users * 10);
    emit("scoreTopK", "cpu", scoreSize.users, scoreSize.items, dim, 10,
         timeIt(std::max(1, runs / 2), [&] { scoreTopKCpu(e, {}, 10, cols.data(), top.data(), config); }), 0, flops);
    if (gpu)
      emit("scoreTopK", "cuda", scoreSize.users, scoreSize.items, dim, 10,
           timeIt(runs, [&] { scoreTopKCuda(e, {}, 10, cols.data(), top.data(), config); }), 0, flops);
  }

  // k carries the token count of the epoch; flops are estimated (transformer_bench.h epochFlops).
  transformer_bench::run(
      quick, gpu, runs, config,
      [&](const std::string& op, const char* device, int64_t rows, int64_t cols, int64_t dim, int64_t k, double ms,
          double flops) { emit(op, device, rows, cols, dim, k, Timing{ms, ms, std::max(1, runs / 3)}, 0, flops); },
      [&](int n, const std::function<void()>& body) { return timeIt(n, body).median; });

  std::printf("{\"tool\":\"semrec_native_bench\",\"threads\":%d,\"cudaCompiled\":%s,\"cudaAvailable\":%s,\"gpu\":\"%s\","
              "\"cudaRuntimeVersion\":%d,\"cudaDriverVersion\":%d,\"cases\":[",
              threads, info.cudaCompiled ? "true" : "false", gpu ? "true" : "false",
              gpu ? jsonEscape(info.gpus[0].name).c_str() : "", info.runtimeVersion, info.driverVersion);
  for (size_t i = 0; i < results.size(); ++i) std::printf("%s%s", i ? "," : "", results[i].c_str());
  std::printf("]}\n");
  return 0;
}
