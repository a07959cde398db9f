// Stands in for cuda/*.cu in builds without nvcc: the CUDA entry points exist and say why they cannot run.
#include "semrec/device.h"
#include "semrec/error.h"
#include "semrec/adapter.h"
#include "semrec/fusion.h"
#include "semrec/metrics.h"
#include "semrec/score.h"
#include "semrec/topk.h"

namespace semrec {

namespace {
[[noreturn]] void noCuda(const char* op) {
  fail(ErrorCode::CudaUnavailable,
       std::string(op) + ": this build of semrec has no CUDA kernels (it was built without nvcc); rebuild with "
                         "`npm run build` on a machine with the CUDA toolkit, or use device 'cpu'");
}
}  // namespace

DeviceInfo deviceInfo() {
  DeviceInfo info;
  info.cudaCompiled = false;
  info.cudaAvailable = false;
  info.reason = "this build has no CUDA kernels (built without nvcc)";
  info.cpuThreads = hardwareThreads();
  return info;
}

bool cudaUsable() { return false; }

void topKCuda(const MatrixView&, const CsrView&, int64_t, int32_t*, float*, const ExecConfig&) { noCuda("topK"); }
void scoreMatrixCuda(const EmbeddingView&, float*, const ExecConfig&) { noCuda("scoreMatrix"); }
void scoreTopKCuda(const EmbeddingView&, const CsrView&, int64_t, int32_t*, float*, const ExecConfig&) {
  noCuda("scoreTopK");
}
void rankingMetricsCuda(const MatrixView&, const CsrView&, const CsrView&, const FeatureView&, const MetricLayout&,
                        MetricsOutput&, const ExecConfig&) {
  noCuda("rankingMetrics");
}

namespace train {
double fusionGradientCuda(const FusionLayout&, const float*, const FusionInputs&, const RankSamples&, const FusionHyper&,
                          uint64_t, const float*, float*, const ExecConfig&) {
  noCuda("fusionGradient");
}
double fusionEpochCuda(const FusionLayout&, float*, float*, float*, int64_t*, const FusionInputs&, const RankSamples&,
                       const FusionHyper&, uint64_t, const ExecConfig&) {
  noCuda("fusionEpoch");
}
void fusionVectorsCuda(const FusionLayout&, const float*, const float*, const int32_t*, const float*, int64_t, const FusionInputs&, float*,
                       float*, float*, const ExecConfig&) {
  noCuda("fusionVectors");
}
double adapterGradientCuda(const AdapterLayout&, const float*, const MatrixView&, const int32_t*, const int32_t*, int64_t,
                           const AdapterHyper&, uint64_t, const float*, float*, const ExecConfig&) {
  noCuda("adapterGradient");
}
double adapterEpochCuda(const AdapterLayout&, float*, float*, float*, int64_t*, const MatrixView&, const int32_t*,
                        const int32_t*, int64_t, const AdapterHyper&, uint64_t, const ExecConfig&) {
  noCuda("adapterEpoch");
}
}  // namespace train

}  // namespace semrec
