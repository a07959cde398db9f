// rankingMetrics on the GPU: the O(users x items) work (NaN check, top-maxK selection, full rank of the
// best truth item) runs in the row selection; a per-user kernel turns lists into accuracy metrics with
// the same double arithmetic as metricsFromLists (the CPU twin), so the two agree to the bit. The cheap
// O(users x K) remainder (diversity, ILD, means) is finishMetrics on the host.
#include <algorithm>
#include <climits>
#include <limits>
#include <vector>

#include "common.cuh"
#include "select.cuh"
#include "semrec/metrics.h"

namespace semrec {

namespace cuda {
namespace {

__device__ bool contains(const int32_t* sorted, int64_t n, int32_t value) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && sorted[lo] == value;
}

struct MetricsKernelArgs {
  const int32_t* lists;
  int64_t users;
  int64_t listWidth;
  const int32_t* truthIndptr;
  const int32_t* truthIndices;
  const int64_t* fullRanks;  // null: no full-ranking mrr
  const int32_t* ks;
  int numK;
  const double* discount;    // [0..listWidth]
  const double* idcg;        // [0..listWidth]
  float* perUser;            // slot-major: perUser[slot * users + u]
};

__global__ void metricsKernel(MetricsKernelArgs a) {
  for (int64_t u = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; u < a.users;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t* truth = a.truthIndices + a.truthIndptr[u];
    const int64_t numTruth = a.truthIndptr[u + 1] - a.truthIndptr[u];
    const int slots = a.numK * kSlotsPerK + (a.fullRanks ? 1 : 0);
    if (numTruth == 0) {
      for (int s = 0; s < slots; ++s) a.perUser[s * a.users + u] = __int_as_float(0x7fc00000);  // NaN
      continue;
    }
    const int32_t* list = a.lists + u * a.listWidth;
    long long hits = 0, firstHit = 0;
    double dcg = 0, precisionSum = 0;
    int kIndex = 0;
    auto record = [&](int ki) {
      const long long K = a.ks[ki];
      const long long ideal = numTruth < K ? numTruth : K;
      float* base = a.perUser + static_cast<int64_t>(ki) * kSlotsPerK * a.users + u;
      base[kPrecision * a.users] = static_cast<float>(static_cast<double>(hits) / K);
      base[kRecall * a.users] = static_cast<float>(static_cast<double>(hits) / numTruth);
      base[kNdcg * a.users] = static_cast<float>(dcg / a.idcg[ideal]);
      base[kMap * a.users] = static_cast<float>(precisionSum / ideal);
      base[kHit * a.users] = hits > 0 ? 1.0f : 0.0f;
      base[kMrrAtK * a.users] = firstHit > 0 ? static_cast<float>(1.0 / firstHit) : 0.0f;
    };
    for (int64_t p = 0; p < a.listWidth && list[p] >= 0; ++p) {
      const long long rank = p + 1;
      while (kIndex < a.numK && rank > a.ks[kIndex]) record(kIndex++);
      if (kIndex == a.numK) break;
      if (contains(truth, numTruth, list[p])) {
        ++hits;
        dcg += a.discount[rank];
        precisionSum += static_cast<double>(hits) / rank;
        if (firstHit == 0) firstHit = rank;
      }
    }
    while (kIndex < a.numK) record(kIndex++);
    if (a.fullRanks) a.perUser[static_cast<int64_t>(a.numK) * kSlotsPerK * a.users + u] = static_cast<float>(1.0 / a.fullRanks[u]);
  }
}

}  // namespace
}  // namespace cuda

void rankingMetricsCuda(const MatrixView& scores, const CsrView& truth, const CsrView& exclude,
                        const FeatureView& features, const MetricLayout& layout, MetricsOutput& out,
                        const ExecConfig& config) {
  using namespace cuda;
  requireGpu("rankingMetrics");
  const int64_t users = scores.rows, cols = scores.cols, width = layout.listWidth(scores.cols);
  const OwnedCsr clean = cleanTruth(truth, exclude, config);
  std::vector<int32_t> lists(static_cast<size_t>(users * width), -1);
  if (users > 0) {
    Stream stream;
    const cudaStream_t s = stream.get();
    const DeviceCsr truthOnDevice(clean.view(), s), excluded(exclude, s);
    DeviceBuffer<int32_t> deviceLists(users * width, s);
    DeviceBuffer<int64_t> fullRanks(users, s);
    DeviceBuffer<unsigned long long> nanPosition(1, s);
    nanPosition.fill(0xFF);

    const int64_t chunk = std::min<int64_t>(rowsPerChunk(users, cols * sizeof(float) + width * 16), INT_MAX / width);
    DeviceBuffer<float> chunkScores(chunk * cols, s);
    for (int64_t u0 = 0; u0 < users; u0 += chunk) {
      const int64_t n = std::min(chunk, users - u0);
      chunkScores.upload(scores.data + u0 * cols, n * cols);
      RowSelectArgs args = rowChunk(chunkScores.data(), n, cols, u0, excluded, width, nanPosition.data());
      args.truthIndptr = truthOnDevice.indptrFrom(u0);
      args.truthIndices = truthOnDevice.indices();
      args.fullRanks = fullRanks.data() + u0;
      args.outCols = deviceLists.data() + u0 * width;
      selectRows(args, s);
    }
    throwIfNan(nanPosition.data(), s, "rankingMetrics", "scores");

    const std::vector<double> discount = rankDiscounts(width);
    std::vector<double> idcg(discount.size(), 0.0);
    for (size_t r = 1; r < discount.size(); ++r) idcg[r] = idcg[r - 1] + discount[r];
    DeviceBuffer<double> deviceDiscount(discount.size(), s), deviceIdcg(idcg.size(), s);
    deviceDiscount.upload(discount.data(), discount.size());
    deviceIdcg.upload(idcg.data(), idcg.size());
    DeviceBuffer<int32_t> ks(layout.ks.size(), s);
    ks.upload(layout.ks.data(), layout.ks.size());
    const int accuracySlots = static_cast<int>(layout.ks.size() * kSlotsPerK + (layout.fullMrr ? 1 : 0));
    DeviceBuffer<float> perUser(static_cast<size_t>(accuracySlots) * users, s);

    MetricsKernelArgs m{deviceLists.data(), users, width, truthOnDevice.indptrFrom(0), truthOnDevice.indices(),
                        layout.fullMrr ? fullRanks.data() : nullptr, ks.data(), static_cast<int>(layout.ks.size()),
                        deviceDiscount.data(), deviceIdcg.data(), perUser.data()};
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((users + 255) / 256, 65535));
    metricsKernel<<<blocks, 256, 0, s>>>(m);
    checkLaunch("metricsKernel", s);
    for (int slot = 0; slot < accuracySlots; ++slot) perUser.download(out.perUser[slot], users, slot * users);
    deviceLists.download(lists.data(), users * width);
    stream.sync();
  }
  finishMetrics({lists.data(), users, width}, cols, clean, features, layout, out, config);
}

}  // namespace semrec
