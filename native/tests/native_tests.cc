// Node-free tests of the native ops: the CPU ops against simple sort-based references, and every CUDA
// op against its CPU twin (when a GPU is present; otherwise those cases are reported as skipped).
// Exit status 0 only when every case passed.
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "fixtures.h"
#include "semrec/device.h"
#include "semrec/error.h"
#include "semrec/metrics.h"
#include "semrec/ranking.h"
#include "semrec/score.h"
#include "semrec/topk.h"
#include "transformer_cases.h"

using namespace semrec;
using fixtures::Csr;
using fixtures::Random;

namespace {

int passed = 0, failed = 0, skipped = 0;
const ExecConfig kConfig{4};

void check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

void runCase(const std::string& name, bool needsGpu, const std::function<void()>& body) {
  if (needsGpu && !cudaUsable()) {
    ++skipped;
    std::printf("SKIP %s (no usable GPU)\n", name.c_str());
    return;
  }
  try {
    body();
    ++passed;
    std::printf("ok   %s\n", name.c_str());
  } catch (const std::exception& e) {
    ++failed;
    std::printf("FAIL %s: %s\n", name.c_str(), e.what());
  }
}

// ---- references: the definitions, written as plainly as possible ----

struct TopK {
  std::vector<int32_t> cols;
  std::vector<float> scores;
};

TopK referenceTopK(const std::vector<float>& s, int64_t rows, int64_t cols, const Csr* exclude, int64_t k) {
  TopK out{std::vector<int32_t>(rows * k, -1), std::vector<float>(rows * k, -std::numeric_limits<float>::infinity())};
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<bool> banned(cols, false);
    if (exclude)
      for (int32_t e = exclude->indptr[r]; e < exclude->indptr[r + 1]; ++e) banned[exclude->indices[e]] = true;
    std::vector<Scored> all;
    for (int64_t c = 0; c < cols; ++c)
      if (!banned[c]) all.push_back({s[r * cols + c], static_cast<int32_t>(c)});
    std::sort(all.begin(), all.end(), [](const Scored& a, const Scored& b) { return ranksBefore(a, b); });
    for (int64_t i = 0; i < std::min<int64_t>(k, all.size()); ++i) {
      out.cols[r * k + i] = all[i].col;
      out.scores[r * k + i] = all[i].score;
    }
  }
  return out;
}

std::vector<float> referenceScores(const std::vector<float>& users, const std::vector<float>& items,
                                   const std::vector<float>* bias, int64_t dim) {
  const int64_t nu = users.size() / dim, ni = items.size() / dim;
  std::vector<float> s(nu * ni);
  for (int64_t u = 0; u < nu; ++u)
    for (int64_t i = 0; i < ni; ++i) {
      double acc = 0;
      for (int64_t t = 0; t < dim; ++t) acc += static_cast<double>(users[u * dim + t]) * items[i * dim + t];
      s[u * ni + i] = static_cast<float>(acc + (bias ? (*bias)[i] : 0.0));
    }
  return s;
}

// ---- comparisons ----

void expectSameTopK(const TopK& want, const std::vector<int32_t>& cols, const std::vector<float>& scores,
                    const std::string& what) {
  for (size_t i = 0; i < want.cols.size(); ++i) {
    check(want.cols[i] == cols[i], what + ": column mismatch at " + std::to_string(i) + " (want " +
                                       std::to_string(want.cols[i]) + ", got " + std::to_string(cols[i]) + ")");
    check(want.scores[i] == scores[i] || (std::isinf(want.scores[i]) && want.scores[i] == scores[i]),
          what + ": score mismatch at " + std::to_string(i));
  }
}

// Float scores summed in another order may differ in the last bits and so swap near-ties: compare by value.
void expectSameTopKByValue(const TopK& want, const std::vector<int32_t>& cols, const std::vector<float>& scores,
                           float tolerance, const std::string& what) {
  for (size_t i = 0; i < want.cols.size(); ++i) {
    if (want.cols[i] < 0 || cols[i] < 0) {
      check(want.cols[i] == cols[i], what + ": padding mismatch at " + std::to_string(i));
      continue;
    }
    check(std::fabs(want.scores[i] - scores[i]) <= tolerance * (1 + std::fabs(want.scores[i])),
          what + ": score mismatch at " + std::to_string(i) + " (" + std::to_string(want.scores[i]) + " vs " +
              std::to_string(scores[i]) + ")");
  }
}

void expectCode(ErrorCode code, const std::function<void()>& body, const std::string& what) {
  try {
    body();
  } catch (const Error& e) {
    check(e.code() == code, what + ": wrong error code " + errorCodeName(e.code()));
    return;
  }
  throw std::runtime_error(what + ": no error thrown");
}

struct Metrics {
  std::vector<std::vector<float>> perUser;
  MetricsOutput out;
};

Metrics runMetrics(bool cuda, const std::vector<float>& s, int64_t users, int64_t items, const Csr& truth,
                   const Csr* exclude, const MetricLayout& layout, const std::vector<float>* features, int64_t dim) {
  Metrics m;
  m.perUser.assign(layout.numPerUser(), std::vector<float>(users));
  for (auto& v : m.perUser) m.out.perUser.push_back(v.data());
  const CsrView ex = exclude ? exclude->view() : CsrView{};
  const FeatureView f = features ? FeatureView{features->data(), items, dim} : FeatureView{};
  if (cuda)
    rankingMetricsCuda({s.data(), users, items}, truth.view(), ex, f, layout, m.out, kConfig);
  else
    rankingMetricsCpu({s.data(), users, items}, truth.view(), ex, f, layout, m.out, kConfig);
  return m;
}

// Reference metrics of one user from a full sort, straight from the definitions in metrics.h.
std::vector<double> referenceUserMetrics(const std::vector<float>& s, int64_t u, int64_t items, const Csr& truth,
                                         const Csr* exclude, const MetricLayout& layout) {
  std::vector<bool> banned(items, false), relevant(items, false);
  if (exclude)
    for (int32_t e = exclude->indptr[u]; e < exclude->indptr[u + 1]; ++e) banned[exclude->indices[e]] = true;
  int64_t numTruth = 0;
  for (int32_t e = truth.indptr[u]; e < truth.indptr[u + 1]; ++e) {
    const int32_t t = truth.indices[e];
    if (!banned[t] && !relevant[t]) {
      relevant[t] = true;
      ++numTruth;
    }
  }
  std::vector<double> values(layout.numPerUser(), std::nan(""));
  if (numTruth == 0) return values;
  std::vector<Scored> ranked;
  for (int64_t c = 0; c < items; ++c)
    if (!banned[c]) ranked.push_back({s[u * items + c], static_cast<int32_t>(c)});
  std::sort(ranked.begin(), ranked.end(), [](const Scored& a, const Scored& b) { return ranksBefore(a, b); });
  int64_t firstHit = 0;
  for (size_t r = 0; r < ranked.size(); ++r)
    if (relevant[ranked[r].col]) {
      firstHit = r + 1;
      break;
    }
  for (size_t ki = 0; ki < layout.ks.size(); ++ki) {
    const int64_t K = layout.ks[ki];
    double hits = 0, dcg = 0, ap = 0, idcg = 0;
    for (int64_t r = 1; r <= std::min<int64_t>(K, ranked.size()); ++r)
      if (relevant[ranked[r - 1].col]) {
        hits += 1;
        dcg += 1.0 / std::log2(r + 1.0);
        ap += hits / r;
      }
    for (int64_t r = 1; r <= std::min<int64_t>(numTruth, K); ++r) idcg += 1.0 / std::log2(r + 1.0);
    values[layout.slot(ki, kPrecision)] = hits / K;
    values[layout.slot(ki, kRecall)] = hits / numTruth;
    values[layout.slot(ki, kNdcg)] = dcg / idcg;
    values[layout.slot(ki, kMap)] = ap / std::min<int64_t>(numTruth, K);
    values[layout.slot(ki, kHit)] = hits > 0 ? 1 : 0;
    values[layout.slot(ki, kMrrAtK)] = (firstHit > 0 && firstHit <= K) ? 1.0 / firstHit : 0;
  }
  if (layout.fullMrr) values[layout.mrrSlot()] = firstHit > 0 ? 1.0 / firstHit : 0;
  return values;
}

void expectClose(double want, double got, double tolerance, const std::string& what) {
  if (std::isnan(want) && std::isnan(got)) return;
  check(std::fabs(want - got) <= tolerance, what + ": want " + std::to_string(want) + ", got " + std::to_string(got));
}

MetricLayout layoutFor(std::vector<int32_t> ks, bool ild) {
  MetricLayout layout;
  layout.ks = std::move(ks);
  layout.ild = ild;
  return layout;
}

struct Shape {
  int64_t rows, cols;
};
const std::vector<Shape> kShapes = {{1, 1}, {1, 7}, {3, 10}, {17, 100}, {64, 1000}, {5, 3000}, {300, 257}};

}  // namespace

int main() {
  const DeviceInfo info = deviceInfo();
  std::printf("semrec native tests: CUDA %s%s\n", info.cudaCompiled ? "compiled" : "not compiled",
              info.cudaAvailable ? (", GPU: " + info.gpus[0].name).c_str() : (", no GPU (" + info.reason + ")").c_str());

  // ---- CPU against references ----
  for (const Shape& shape : kShapes) {
    for (int64_t k : {int64_t{1}, int64_t{5}, shape.cols, shape.cols + 3}) {
      const std::string name = "cpu topK " + std::to_string(shape.rows) + "x" + std::to_string(shape.cols) + " k=" + std::to_string(k);
      runCase(name, false, [&] {
        Random rng(shape.rows * 1000 + shape.cols + k);
        const auto s = rng.scores(shape.rows, shape.cols, true);
        const Csr ex = rng.csr(shape.rows, shape.cols, std::max<int64_t>(1, shape.cols / 3));
        std::vector<int32_t> cols(shape.rows * k);
        std::vector<float> scores(shape.rows * k);
        topKCpu({s.data(), shape.rows, shape.cols}, ex.view(), k, cols.data(), scores.data(), kConfig);
        expectSameTopK(referenceTopK(s, shape.rows, shape.cols, &ex, k), cols, scores, name);
      });
    }
  }
  runCase("cpu topK: every column excluded gives padding", false, [] {
    const std::vector<float> s = {1, 2, 3};
    Csr ex;
    ex.indices = {2, 0, 1};
    ex.indptr = {0, 3};
    std::vector<int32_t> cols(2);
    std::vector<float> scores(2);
    topKCpu({s.data(), 1, 3}, ex.view(), 2, cols.data(), scores.data(), kConfig);
    check(cols[0] == -1 && cols[1] == -1 && std::isinf(scores[0]) && scores[0] < 0, "expected padding");
  });
  runCase("cpu topK: NaN is rejected", false, [] {
    const std::vector<float> s = {1, std::nanf(""), 3};
    std::vector<int32_t> cols(1);
    std::vector<float> scores(1);
    expectCode(ErrorCode::NanInput, [&] { topKCpu({s.data(), 1, 3}, {}, 1, cols.data(), scores.data(), kConfig); }, "nan");
  });
  for (int64_t dim : {int64_t{1}, int64_t{7}, int64_t{64}, int64_t{96}}) {
    const std::string name = "cpu scoreTopK integer vectors dim=" + std::to_string(dim);
    runCase(name, false, [&] {
      Random rng(dim);
      const int64_t nu = 37, ni = 531, k = 10;
      const auto users = rng.integerVectors(nu, dim), items = rng.integerVectors(ni, dim);
      const auto bias = rng.integerVectors(1, ni);
      const Csr ex = rng.csr(nu, ni, 40);
      std::vector<int32_t> cols(nu * k);
      std::vector<float> scores(nu * k);
      const EmbeddingView e{users.data(), nu, items.data(), ni, dim, bias.data()};
      scoreTopKCpu(e, ex.view(), k, cols.data(), scores.data(), kConfig);
      expectSameTopK(referenceTopK(referenceScores(users, items, &bias, dim), nu, ni, &ex, k), cols, scores, name);
      std::vector<float> dense(nu * ni);
      scoreMatrixCpu(e, dense.data(), kConfig);
      check(dense == referenceScores(users, items, &bias, dim), name + ": scoreMatrix differs");
    });
  }
  for (const Shape& shape : kShapes) {
    const std::string name = "cpu rankingMetrics " + std::to_string(shape.rows) + "x" + std::to_string(shape.cols);
    runCase(name, false, [&] {
      Random rng(7 * shape.rows + shape.cols);
      const auto s = rng.scores(shape.rows, shape.cols, true);
      const Csr truth = rng.csr(shape.rows, shape.cols, 6), ex = rng.csr(shape.rows, shape.cols, shape.cols / 4 + 1);
      const MetricLayout layout = layoutFor({1, 3, 10, 20}, false);
      const Metrics m = runMetrics(false, s, shape.rows, shape.cols, truth, &ex, layout, nullptr, 0);
      for (int64_t u = 0; u < shape.rows; ++u) {
        const auto want = referenceUserMetrics(s, u, shape.cols, truth, &ex, layout);
        for (size_t slot = 0; slot < want.size(); ++slot)
          expectClose(want[slot], m.perUser[slot][u], 1e-6, name + " user " + std::to_string(u) + " " + layout.perUserKeys()[slot]);
      }
    });
  }

  // ---- CUDA against the CPU twin ----
  for (const Shape& shape : kShapes) {
    for (int64_t k : {int64_t{1}, int64_t{10}, shape.cols, shape.cols + 3}) {
      const std::string name = "cuda topK parity " + std::to_string(shape.rows) + "x" + std::to_string(shape.cols) + " k=" + std::to_string(k);
      runCase(name, true, [&] {
        Random rng(31 * shape.rows + shape.cols + k);
        for (bool ties : {true, false}) {
          const auto s = rng.scores(shape.rows, shape.cols, ties);
          const Csr ex = rng.csr(shape.rows, shape.cols, shape.cols / 3 + 1);
          std::vector<int32_t> cpuCols(shape.rows * k), gpuCols(shape.rows * k);
          std::vector<float> cpuScores(shape.rows * k), gpuScores(shape.rows * k);
          topKCpu({s.data(), shape.rows, shape.cols}, ex.view(), k, cpuCols.data(), cpuScores.data(), kConfig);
          topKCuda({s.data(), shape.rows, shape.cols}, ex.view(), k, gpuCols.data(), gpuScores.data(), kConfig);
          expectSameTopK({cpuCols, cpuScores}, gpuCols, gpuScores, name);
        }
      });
    }
  }
  runCase("cuda topK parity: k above the shared-memory sort (CUB path)", true, [] {
    Random rng(99);
    const int64_t rows = 9, cols = 6000, k = 4100;
    const auto s = rng.scores(rows, cols, true);
    const Csr ex = rng.csr(rows, cols, 500);
    std::vector<int32_t> cpuCols(rows * k), gpuCols(rows * k);
    std::vector<float> cpuScores(rows * k), gpuScores(rows * k);
    topKCpu({s.data(), rows, cols}, ex.view(), k, cpuCols.data(), cpuScores.data(), kConfig);
    topKCuda({s.data(), rows, cols}, ex.view(), k, gpuCols.data(), gpuScores.data(), kConfig);
    expectSameTopK({cpuCols, cpuScores}, gpuCols, gpuScores, "large k");
  });
  runCase("cuda topK: special values (-0, +-inf) rank as on the CPU", true, [] {
    const float inf = std::numeric_limits<float>::infinity();
    const std::vector<float> s = {0.0f, -0.0f, inf, -inf, 1.0f, -0.0f, 0.0f, -inf, inf, 1.0f};
    const int64_t k = 10;
    std::vector<int32_t> cpuCols(k), gpuCols(k);
    std::vector<float> cpuScores(k), gpuScores(k);
    topKCpu({s.data(), 1, 10}, {}, k, cpuCols.data(), cpuScores.data(), kConfig);
    topKCuda({s.data(), 1, 10}, {}, k, gpuCols.data(), gpuScores.data(), kConfig);
    expectSameTopK({cpuCols, cpuScores}, gpuCols, gpuScores, "special values");
  });
  runCase("cuda topK: NaN is rejected", true, [] {
    std::vector<float> s(2000, 1.0f);
    s[1234] = std::nanf("");
    std::vector<int32_t> cols(4);
    std::vector<float> scores(4);
    expectCode(ErrorCode::NanInput, [&] { topKCuda({s.data(), 2, 1000}, {}, 2, cols.data(), scores.data(), kConfig); }, "nan");
  });
  for (int64_t dim : {int64_t{1}, int64_t{17}, int64_t{64}, int64_t{768}}) {
    const std::string name = "cuda scoreTopK/scoreMatrix parity dim=" + std::to_string(dim);
    runCase(name, true, [&] {
      Random rng(dim + 5);
      const int64_t nu = 203, ni = 1999, k = 20;
      {  // integer vectors: exact, including ties
        const auto users = rng.integerVectors(nu, dim), items = rng.integerVectors(ni, dim), bias = rng.integerVectors(1, ni);
        const Csr ex = rng.csr(nu, ni, 50);
        const EmbeddingView e{users.data(), nu, items.data(), ni, dim, bias.data()};
        std::vector<int32_t> cpuCols(nu * k), gpuCols(nu * k);
        std::vector<float> cpuScores(nu * k), gpuScores(nu * k);
        scoreTopKCpu(e, ex.view(), k, cpuCols.data(), cpuScores.data(), kConfig);
        scoreTopKCuda(e, ex.view(), k, gpuCols.data(), gpuScores.data(), kConfig);
        expectSameTopK({cpuCols, cpuScores}, gpuCols, gpuScores, name + " (integer)");
        std::vector<float> cpuDense(nu * ni), gpuDense(nu * ni);
        scoreMatrixCpu(e, cpuDense.data(), kConfig);
        scoreMatrixCuda(e, gpuDense.data(), kConfig);
        check(cpuDense == gpuDense, name + ": integer scoreMatrix differs");
      }
      {  // float vectors: by value, tolerance for summation order (relative 1e-4 at dim 768)
        std::vector<float> users(nu * dim), items(ni * dim);
        for (float& v : users) v = rng.uniform();
        for (float& v : items) v = rng.uniform();
        const EmbeddingView e{users.data(), nu, items.data(), ni, dim, nullptr};
        std::vector<int32_t> cpuCols(nu * k), gpuCols(nu * k);
        std::vector<float> cpuScores(nu * k), gpuScores(nu * k);
        scoreTopKCpu(e, {}, k, cpuCols.data(), cpuScores.data(), kConfig);
        scoreTopKCuda(e, {}, k, gpuCols.data(), gpuScores.data(), kConfig);
        expectSameTopKByValue({cpuCols, cpuScores}, gpuCols, gpuScores, 1e-4f, name + " (float)");
      }
    });
  }
  for (const Shape& shape : kShapes) {
    const std::string name = "cuda rankingMetrics parity " + std::to_string(shape.rows) + "x" + std::to_string(shape.cols);
    runCase(name, true, [&] {
      Random rng(13 * shape.rows + shape.cols);
      const auto s = rng.scores(shape.rows, shape.cols, true);
      const Csr truth = rng.csr(shape.rows, shape.cols, 8), ex = rng.csr(shape.rows, shape.cols, shape.cols / 4 + 1);
      std::vector<float> features(shape.cols * 8);
      for (float& v : features) v = rng.uniform();
      const MetricLayout layout = layoutFor({1, 5, 10, 50}, true);
      const Metrics cpu = runMetrics(false, s, shape.rows, shape.cols, truth, &ex, layout, &features, 8);
      const Metrics gpu = runMetrics(true, s, shape.rows, shape.cols, truth, &ex, layout, &features, 8);
      check(cpu.out.evaluatedUsers == gpu.out.evaluatedUsers, name + ": evaluatedUsers differ");
      check(cpu.out.distinctItems == gpu.out.distinctItems, name + ": aggregate diversity differs");
      for (size_t slot = 0; slot < layout.numPerUser(); ++slot)
        for (int64_t u = 0; u < shape.rows; ++u)
          expectClose(cpu.perUser[slot][u], gpu.perUser[slot][u], 0.0, name + " " + layout.perUserKeys()[slot]);
    });
  }

  transformer_cases::addCases(runCase);

  std::printf("\n%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed == 0 ? 0 : 1;
}
