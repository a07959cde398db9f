// Stands in for cuda/transformer.cu in builds without nvcc: the CUDA twins exist and say why they cannot run.
#include "semrec/error.h"
#include "semrec/transformer.h"

namespace semrec::seq {

namespace {
[[noreturn]] void noCuda(const char* op) {
  fail(ErrorCode::CudaUnavailable,
       std::string(op) + ": this build of semrec has no CUDA kernels (it was built without nvcc); rebuild with "
                         "`npm run build` on a machine with the CUDA toolkit, or use device 'cpu'");
}
}  // namespace

double transformerGradientCuda(const TransformerConfig&, const float*, const SegmentBatch&, uint64_t, float*,
                               const ExecConfig&) {
  noCuda("transformerGradient");
}
double transformerEpochCuda(const TransformerConfig&, float*, float*, float*, int64_t*, const SegmentBatch&,
                            const TransformerHyper&, uint64_t, const ExecConfig&) {
  noCuda("transformerEpoch");
}
void transformerEncodeCuda(const TransformerConfig&, const float*, const int32_t*, const int32_t*, int64_t, float*,
                           const ExecConfig&) {
  noCuda("transformerEncode");
}

}  // namespace semrec::seq
