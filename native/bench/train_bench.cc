// Node-free benchmark and profiling driver of the native trainers (LightGCN epochs, NeuMF epochs and
// full-ranking scoring), plus the machine's own floor: measured FMA throughput and the bandwidth of
// the row gathers a sparse propagation does. Built with the Node-free programs (cmake -DSEMREC_NODE=OFF).
// It is the program README's callgrind profiles come from, e.g.
//   valgrind --tool=callgrind semrec_train_bench lightgcn --data ../shared/datasets/ml-100k --epochs 1 --threads 1
//   semrec_train_bench lightgcn --data ../shared/datasets/ml-100k --epochs 5 --threads 2 --hash
//   semrec_train_bench neumf-score --users 100000 --items 20000 --score-users 2000 --threads 2
//   semrec_train_bench floor --threads 2
// Output: one JSON line on stdout (timings in ms, and with --hash an FNV-1a hash of the trained
// parameters, so two builds can be checked for bit-identical training).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "semrec/gemm.h"
#include "semrec/parallel.h"
#include "semrec/train_common.h"
#include "semrec/train_lightgcn.h"
#include "semrec/train_neumf.h"

using namespace semrec;
using namespace semrec::train;

namespace {

double nowMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of the whole process (all threads): on a machine shared with other work, the time the op
// actually ran, which wall time is not.
double cpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct Options {
  std::string command;
  std::string data;  // folder with u.data (ml-100k); empty: synthetic
  int64_t users = 100000, items = 20000, perUser = 20;
  int64_t epochs = 1, dim = 64, layers = 3, batch = 2048, scoreUsers = 1000;
  int threads = 1, runs = 5;
  bool hash = false;
};

// The training pairs: ml-100k's u.data (every rating an interaction, ~80% kept by a fixed hash so the
// graph has the size of an 8:1:1 training split), or a synthetic set with Zipf-like item popularity.
struct Pairs {
  int64_t numUsers = 0, numItems = 0;
  std::vector<int32_t> indptr, indices;  // each user's items, sorted, unique
  std::vector<int32_t> users, items;     // the same pairs as a list
};

Pairs finish(int64_t numUsers, int64_t numItems, std::vector<std::vector<int32_t>>& byUser) {
  Pairs p;
  p.numUsers = numUsers;
  p.numItems = numItems;
  p.indptr.push_back(0);
  for (auto& row : byUser) {
    std::sort(row.begin(), row.end());
    row.erase(std::unique(row.begin(), row.end()), row.end());
    for (int32_t i : row) {
      p.indices.push_back(i);
      p.users.push_back(static_cast<int32_t>(p.indptr.size() - 1));
      p.items.push_back(i);
    }
    p.indptr.push_back(static_cast<int32_t>(p.indices.size()));
  }
  return p;
}

Pairs loadMl100k(const std::string& dir) {
  std::ifstream in(dir + "/u.data");
  if (!in) {
    std::fprintf(stderr, "cannot read %s/u.data\n", dir.c_str());
    std::exit(2);
  }
  std::map<int64_t, int32_t> userIds, itemIds;
  std::vector<std::pair<int32_t, int32_t>> rows;
  int64_t u, i, r, t;
  uint64_t line = 0;
  while (in >> u >> i >> r >> t) {
    ++line;
    uint64_t h = line * 0x9e3779b97f4a7c15ULL;
    if ((splitmix64(h) % 10) >= 8) continue;  // keep ~80%
    const int32_t uu = userIds.emplace(u, static_cast<int32_t>(userIds.size())).first->second;
    const int32_t ii = itemIds.emplace(i, static_cast<int32_t>(itemIds.size())).first->second;
    rows.emplace_back(uu, ii);
  }
  std::vector<std::vector<int32_t>> byUser(userIds.size());
  for (auto& [uu, ii] : rows) byUser[uu].push_back(ii);
  return finish(static_cast<int64_t>(userIds.size()), static_cast<int64_t>(itemIds.size()), byUser);
}

Pairs synthetic(int64_t numUsers, int64_t numItems, int64_t perUser) {
  Rng rng(1, 0);
  std::vector<double> cumulative(numItems);
  double total = 0;
  for (int64_t i = 0; i < numItems; ++i) cumulative[i] = total += 1.0 / std::pow(static_cast<double>(i + 10), 0.9);
  std::vector<std::vector<int32_t>> byUser(numUsers);
  for (int64_t u = 0; u < numUsers; ++u) {
    const int64_t n = 5 + static_cast<int64_t>(rng.below(static_cast<uint32_t>(2 * perUser - 9)));
    for (int64_t k = 0; k < n; ++k) {
      const double x = rng.uniform() * total;
      byUser[u].push_back(static_cast<int32_t>(std::lower_bound(cumulative.begin(), cumulative.end(), x) - cumulative.begin()));
    }
  }
  return finish(numUsers, numItems, byUser);
}

Pairs loadPairs(const Options& o) { return o.data.empty() ? synthetic(o.users, o.items, o.perUser) : loadMl100k(o.data); }

std::vector<float> gaussian(int64_t n, float std, uint64_t seed) {
  Rng rng(seed, 7);
  std::vector<float> v(n);
  for (float& x : v) {
    const double a = (rng.uniform() + 0x1.0p-25) , b = rng.uniform();
    x = static_cast<float>(std * std::sqrt(-2.0 * std::log(a)) * std::cos(6.283185307179586 * b));
  }
  return v;
}

uint64_t fnv1a(const void* data, size_t bytes, uint64_t h = 0xcbf29ce484222325ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t k = 0; k < bytes; ++k) h = (h ^ p[k]) * 0x100000001b3ULL;
  return h;
}

std::string stats(std::vector<double> ms, std::vector<double> cpu) {
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  char buf[200];
  std::snprintf(buf, sizeof(buf), "\"msMedian\":%.3f,\"msMin\":%.3f,\"cpuMsMedian\":%.3f,\"cpuMsMin\":%.3f,\"runs\":%zu",
                ms[ms.size() / 2], ms.front(), cpu[cpu.size() / 2], cpu.front(), ms.size());
  return buf;
}

int runLightGcn(const Options& o) {
  const Pairs p = loadPairs(o);
  const Positives positives{CsrView{p.indptr.data(), p.indices.data(), p.numUsers, static_cast<int64_t>(p.indices.size()), true},
                            p.numItems};
  const LightGcnGraph g = lightgcnGraph(positives, p.numUsers);
  const int64_t size = g.numNodes() * o.dim;
  std::vector<float> E0 = gaussian(size, 0.1f, 42), m(size, 0.0f), v(size, 0.0f);
  int64_t step = 0;
  LightGcnHyper h;
  h.adam.lr = 5e-3f;
  h.reg = 1e-3f;
  h.layers = o.layers;
  h.batchSize = o.batch;
  const ExecConfig config{o.threads};
  const PairSamples pairs{p.users.data(), p.items.data(), static_cast<int64_t>(p.users.size())};
  std::vector<double> ms, cpu;
  double loss = 0;
  for (int64_t e = 0; e < o.epochs; ++e) {
    const Triples t = drawTriples(static_cast<uint64_t>(1000 + e), pairs, positives, config);
    const double t0 = nowMs(), c0 = cpuMs();
    loss = lightgcnEpoch(g, E0.data(), m.data(), v.data(), &step, o.dim, t.view(), h, config);
    ms.push_back(nowMs() - t0);
    cpu.push_back(cpuMs() - c0);
  }
  std::printf("{\"op\":\"lightgcnEpoch\",\"users\":%lld,\"items\":%lld,\"edges\":%zu,\"dim\":%lld,\"layers\":%lld,"
              "\"batch\":%lld,\"threads\":%d,\"epochs\":%lld,%s,\"lastLoss\":%.17g",
              static_cast<long long>(p.numUsers), static_cast<long long>(p.numItems), p.indices.size(),
              static_cast<long long>(o.dim), static_cast<long long>(o.layers), static_cast<long long>(o.batch), o.threads,
              static_cast<long long>(o.epochs), stats(ms, cpu).c_str(), loss);
  if (o.hash) {
    uint64_t hash = fnv1a(E0.data(), E0.size() * 4);
    hash = fnv1a(m.data(), m.size() * 4, hash);
    hash = fnv1a(v.data(), v.size() * 4, hash);
    std::printf(",\"paramHash\":\"%016llx\"", static_cast<unsigned long long>(hash));
  }
  std::printf("}\n");
  return 0;
}

// One propagation out = A in over the whole graph (the kernel every LightGCN layer runs), repeated.
int runPropagate(const Options& o) {
  const Pairs p = loadPairs(o);
  const Positives positives{CsrView{p.indptr.data(), p.indices.data(), p.numUsers, static_cast<int64_t>(p.indices.size()), true},
                            p.numItems};
  const LightGcnGraph g = lightgcnGraph(positives, p.numUsers);
  const int64_t size = g.numNodes() * o.dim;
  const std::vector<float> in = gaussian(size, 0.1f, 42);
  std::vector<float> out(size);
  const ExecConfig config{o.threads};
  std::vector<double> ms, cpu;
  for (int r = 0; r < o.runs; ++r) {
    const double t0 = nowMs(), c0 = cpuMs();
    propagate(g, in.data(), out.data(), o.dim, config);
    ms.push_back(nowMs() - t0);
    cpu.push_back(cpuMs() - c0);
  }
  const double edgeRows = static_cast<double>(g.indices.size());
  std::sort(ms.begin(), ms.end());
  std::printf("{\"op\":\"propagate\",\"nodes\":%lld,\"edges\":%zu,\"dim\":%lld,\"threads\":%d,%s,\"gatheredGBpsAtMin\":%.1f}\n",
              static_cast<long long>(g.numNodes()), g.indices.size(), static_cast<long long>(o.dim), o.threads,
              stats(ms, cpu).c_str(), edgeRows * o.dim * 4 / (ms.front() / 1000) / 1e9);
  return 0;
}

// The GEMM micro-kernel on NeuMF's layer shape (a strip of pair activations x the packed 32 x 64 weights):
// its FLOP rate, against the machine's FMA throughput ("floor").
int runGemm(const Options& o) {
  const int64_t rows = 192, cols = 32, dim = 64, reps = 200;
  const std::vector<float> A = gaussian(rows * dim, 1.0f, 1), B = gaussian(cols * dim, 1.0f, 2);
  std::vector<float> packed(gemm::packedFloats(cols, dim)), C(rows * cols);
  gemm::pack(B.data(), dim, cols, dim, packed.data());
  std::vector<double> ms, cpu;
  for (int r = 0; r < o.runs * 10; ++r) {
    const double t0 = nowMs(), c0 = cpuMs();
    for (int k = 0; k < reps; ++k) gemm::multiply(A.data(), dim, rows, packed.data(), cols, dim, nullptr, C.data(), cols);
    ms.push_back(nowMs() - t0);
    cpu.push_back(cpuMs() - c0);
  }
  std::sort(ms.begin(), ms.end());
  std::printf("{\"op\":\"gemm\",\"rows\":%lld,\"cols\":%lld,\"dim\":%lld,\"stripRows\":%lld,%s,\"gflopsAtMin\":%.1f}\n",
              static_cast<long long>(rows), static_cast<long long>(cols), static_cast<long long>(dim),
              static_cast<long long>(gemm::stripRows()), stats(ms, cpu).c_str(),
              2.0 * rows * cols * dim * reps / (ms.front() / 1000) / 1e9);
  return 0;
}

NeuMfLayout neumfLayout(int64_t users, int64_t items) { return NeuMfLayout::make(users, items, 64, 64, {64, 32}); }

int runNeuMfScore(const Options& o) {
  const NeuMfLayout L = neumfLayout(o.users, o.items);
  const std::vector<float> P = gaussian(L.total, 0.1f, 43);
  const int64_t n = std::min(o.scoreUsers, o.users);
  std::vector<int32_t> users(n);
  for (int64_t r = 0; r < n; ++r) users[r] = static_cast<int32_t>((r * 7919) % o.users);
  std::vector<float> out(static_cast<size_t>(n * o.items));
  const ExecConfig config{o.threads};
  std::vector<double> ms, cpu;
  for (int r = 0; r < o.runs; ++r) {
    const double t0 = nowMs(), c0 = cpuMs();
    neumfScore(L, P.data(), users.data(), n, out.data(), config);
    ms.push_back(nowMs() - t0);
    cpu.push_back(cpuMs() - c0);
  }
  std::sort(ms.begin(), ms.end());
  const double pairsPerSecond = static_cast<double>(n) * o.items / (ms[ms.size() / 2] / 1000);
  std::printf("{\"op\":\"neumfScore\",\"users\":%lld,\"items\":%lld,\"scoredUsers\":%lld,\"threads\":%d,%s,"
              "\"pairsPerSecond\":%.4g,\"fullRankingSeconds\":%.2f",
              static_cast<long long>(o.users), static_cast<long long>(o.items), static_cast<long long>(n), o.threads,
              stats(ms, cpu).c_str(), pairsPerSecond, static_cast<double>(o.users) * o.items / pairsPerSecond);
  if (o.hash) std::printf(",\"scoreHash\":\"%016llx\"", static_cast<unsigned long long>(fnv1a(out.data(), out.size() * 4)));
  std::printf("}\n");
  return 0;
}

int runNeuMfEpoch(const Options& o) {
  const Pairs p = loadPairs(o);
  const Positives positives{CsrView{p.indptr.data(), p.indices.data(), p.numUsers, static_cast<int64_t>(p.indices.size()), true},
                            p.numItems};
  const NeuMfLayout L = neumfLayout(p.numUsers, p.numItems);
  std::vector<float> P = gaussian(L.total, 0.01f, 44), m(L.total, 0.0f), v(L.total, 0.0f);
  int64_t step = 0;
  NeuMfHyper h;
  h.adam.lr = 5e-4f;
  h.batchSize = 256;
  const ExecConfig config{o.threads};
  const PairSamples pairs{p.users.data(), p.items.data(), static_cast<int64_t>(p.users.size())};
  std::vector<double> ms, cpu;
  double loss = 0;
  for (int64_t e = 0; e < o.epochs; ++e) {
    const OwnedPointSamples s = drawPointSamples(static_cast<uint64_t>(2000 + e), pairs, positives, 4, config);
    const double t0 = nowMs(), c0 = cpuMs();
    loss = neumfEpoch(L, P.data(), m.data(), v.data(), &step, s.view(), h, config);
    ms.push_back(nowMs() - t0);
    cpu.push_back(cpuMs() - c0);
  }
  std::printf("{\"op\":\"neumfEpoch\",\"users\":%lld,\"items\":%lld,\"pairs\":%zu,\"threads\":%d,\"epochs\":%lld,%s,"
              "\"lastLoss\":%.17g",
              static_cast<long long>(p.numUsers), static_cast<long long>(p.numItems), p.users.size(), o.threads,
              static_cast<long long>(o.epochs), stats(ms, cpu).c_str(), loss);
  if (o.hash) std::printf(",\"paramHash\":\"%016llx\"", static_cast<unsigned long long>(fnv1a(P.data(), P.size() * 4)));
  std::printf("}\n");
  return 0;
}


// ---- the machine's floor ----

#if defined(__x86_64__)
// Peak FMA throughput: 12 independent accumulator chains (enough to cover FMA latency x 2 ports).
__attribute__((target("avx2,fma"))) float fmaLoopAvx2(int64_t iters, float seed) {
  __m256 acc[12];
  for (int k = 0; k < 12; ++k) acc[k] = _mm256_set1_ps(seed + k);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 12; ++k) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
  __m256 s = acc[0];
  for (int k = 1; k < 12; ++k) s = _mm256_add_ps(s, acc[k]);
  return _mm256_cvtss_f32(s);
}
__attribute__((target("avx512f"))) float fmaLoopAvx512(int64_t iters, float seed) {
  __m512 acc[12];
  for (int k = 0; k < 12; ++k) acc[k] = _mm512_set1_ps(seed + k);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 12; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  __m512 s = acc[0];
  for (int k = 1; k < 12; ++k) s = _mm512_add_ps(s, acc[k]);
  return _mm512_reduce_add_ps(s);
}
// Reads rows[idx[e]] (64 floats) for every e, summing them in registers: the loads of a sparse propagation
// over rows of 64 floats (the same 4 AVX-512 registers per row and prefetching 4 rows ahead as the LightGCN
// kernel), without its multiplies.
__attribute__((target("avx512f"))) float gatherRows(const float* table, const int32_t* idx, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  for (int64_t e = 0; e < n; ++e) {
    if (e + 4 < n) {
      const char* ahead = reinterpret_cast<const char*>(table + static_cast<int64_t>(idx[e + 4]) * 64);
      _mm_prefetch(ahead, _MM_HINT_T0);
      _mm_prefetch(ahead + 64, _MM_HINT_T0);
      _mm_prefetch(ahead + 128, _MM_HINT_T0);
      _mm_prefetch(ahead + 192, _MM_HINT_T0);
    }
    const float* x = table + static_cast<int64_t>(idx[e]) * 64;
    s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x));
    s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + 16));
    s2 = _mm512_add_ps(s2, _mm512_loadu_ps(x + 32));
    s3 = _mm512_add_ps(s3, _mm512_loadu_ps(x + 48));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
#endif

// Best of `trials` (the least disturbed run on a shared machine) of fn run on `threads` threads at once.
template <class Fn>
double bestSeconds(int trials, int threads, Fn&& fn) {
  double best = 1e30;
  for (int t = 0; t < trials; ++t) {
    const double t0 = nowMs();
    parallelFor(threads, 1, threads, [&](int64_t w0, int64_t w1, int) {
      for (int64_t w = w0; w < w1; ++w) fn(w);
    });
    best = std::min(best, (nowMs() - t0) / 1000);
  }
  return best;
}

volatile float gSink;

int runFloor(const Options& o) {
#if defined(__x86_64__)
  const int th = o.threads;
  std::printf("{\"op\":\"floor\",\"threads\":%d", th);
  const int64_t iters = 500'000;  // 500k x 12 FMAs x 8 lanes x 2 flops = 96 MFLOP per thread (AVX2): ~1 ms
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    const double s = bestSeconds(o.runs * 10, th, [&](int64_t w) { gSink = fmaLoopAvx2(iters, static_cast<float>(w)); });
    std::printf(",\"avx2FmaGflops\":%.1f", th * iters * 12.0 * 8 * 2 / s / 1e9);
  }
  if (__builtin_cpu_supports("avx512f")) {
    const double s = bestSeconds(o.runs * 10, th, [&](int64_t w) { gSink = fmaLoopAvx512(iters, static_cast<float>(w)); });
    std::printf(",\"avx512FmaGflops\":%.1f", th * iters * 12.0 * 16 * 2 / s / 1e9);
  }
  // Random row gathers from tables of ml-100k's size (2,625 nodes x 64 floats, 0.67 MB: in L2) and of the
  // 100k x 20k set (120,000 x 64, 31 MB: L3 and memory).
  if (!__builtin_cpu_supports("avx512f")) {
    std::printf("}\n");
    return 0;
  }
  for (const int64_t rows : {int64_t{2625}, int64_t{120000}}) {
    const std::vector<float> table = gaussian(rows * 64, 1.0f, 5);
    const int64_t n = 400'000;  // short trials: some run undisturbed on a busy machine
    std::vector<int32_t> idx(n);
    Rng rng(9, 0);
    for (auto& i : idx) i = static_cast<int32_t>(rng.below(static_cast<uint32_t>(rows)));
    const int64_t per = n / th;
    const double s = bestSeconds(o.runs * 10, th, [&](int64_t w) { gSink = gatherRows(table.data(), idx.data() + w * per, per); });
    std::printf(",\"gatherRows%lldGBps\":%.1f", static_cast<long long>(rows), per * th * 256.0 / s / 1e9);
  }
  std::printf("}\n");
#endif
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc < 2) {
    std::fprintf(stderr, "usage: semrec_train_bench lightgcn|neumf-epoch|neumf-score|floor [options]\n");
    return 2;
  }
  o.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data") o.data = next();
    else if (a == "--users") o.users = std::atoll(next());
    else if (a == "--items") o.items = std::atoll(next());
    else if (a == "--per-user") o.perUser = std::atoll(next());
    else if (a == "--epochs") o.epochs = std::atoll(next());
    else if (a == "--dim") o.dim = std::atoll(next());
    else if (a == "--layers") o.layers = std::atoll(next());
    else if (a == "--batch") o.batch = std::atoll(next());
    else if (a == "--score-users") o.scoreUsers = std::atoll(next());
    else if (a == "--threads") o.threads = std::atoi(next());
    else if (a == "--runs") o.runs = std::atoi(next());
    else if (a == "--hash") o.hash = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (o.command == "lightgcn") return runLightGcn(o);
  if (o.command == "neumf-score") return runNeuMfScore(o);
  if (o.command == "neumf-epoch") return runNeuMfEpoch(o);
  if (o.command == "floor") return runFloor(o);
  if (o.command == "propagate") return runPropagate(o);
  if (o.command == "gemm") return runGemm(o);
  std::fprintf(stderr, "unknown command %s\n", o.command.c_str());
  return 2;
}
