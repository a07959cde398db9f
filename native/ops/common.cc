// Error names, argument content checks and device resolution shared by every op.
#include <cmath>
#include <string>
#include <thread>

#include "semrec/device.h"
#include "semrec/error.h"
#include "semrec/validate.h"

namespace semrec {

const char* errorCodeName(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::InvalidArgType: return "ERR_INVALID_ARG_TYPE";
    case ErrorCode::InvalidArgValue: return "ERR_INVALID_ARG_VALUE";
    case ErrorCode::OutOfRange: return "ERR_OUT_OF_RANGE";
    case ErrorCode::NanInput: return "ERR_NAN_INPUT";
    case ErrorCode::CudaUnavailable: return "ERR_CUDA_UNAVAILABLE";
    case ErrorCode::Cuda: return "ERR_CUDA";
    case ErrorCode::OutOfMemory: return "ERR_OUT_OF_MEMORY";
    case ErrorCode::Internal: return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

void validateCsr(const CsrView& csr, int64_t cols, const std::string& name) {
  if (!csr.present) return;
  if (csr.indptr[0] != 0)
    fail(ErrorCode::InvalidArgValue, name + ".indptr[0] must be 0, got " + std::to_string(csr.indptr[0]));
  for (int64_t r = 0; r < csr.rows; ++r) {
    if (csr.indptr[r + 1] < csr.indptr[r])
      fail(ErrorCode::InvalidArgValue, name + ".indptr must be non-decreasing, but indptr[" + std::to_string(r + 1) +
                                           "] = " + std::to_string(csr.indptr[r + 1]) + " < indptr[" +
                                           std::to_string(r) + "] = " + std::to_string(csr.indptr[r]));
  }
  if (csr.indptr[csr.rows] != csr.nnz)
    fail(ErrorCode::InvalidArgValue, name + ".indptr[" + std::to_string(csr.rows) + "] must equal " + name +
                                         ".indices.length (" + std::to_string(csr.nnz) + "), got " +
                                         std::to_string(csr.indptr[csr.rows]));
  for (int64_t i = 0; i < csr.nnz; ++i) {
    const int32_t c = csr.indices[i];
    if (c < 0 || c >= cols)
      fail(ErrorCode::OutOfRange, name + ".indices[" + std::to_string(i) + "] = " + std::to_string(c) +
                                      " is outside [0, " + std::to_string(cols) + ")");
  }
}

void validateFinite(const float* data, int64_t rows, int64_t cols, const std::string& name) {
  const int64_t n = rows * cols;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(data[i])) {
      const std::string where = name + "[" + std::to_string(i / cols) + ", " + std::to_string(i % cols) + "]";
      if (std::isnan(data[i])) fail(ErrorCode::NanInput, where + " is NaN");
      fail(ErrorCode::OutOfRange, where + " is " + (data[i] > 0 ? "+Infinity" : "-Infinity") + "; values must be finite");
    }
  }
}

int hardwareThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

Device resolveDevice(Device requested, double work, const char* op) {
  switch (requested) {
    case Device::Cpu: return Device::Cpu;
    case Device::Cuda:
      if (!cudaUsable()) {
        const DeviceInfo info = deviceInfo();
        fail(ErrorCode::CudaUnavailable, std::string(op) + ": device 'cuda' was requested but CUDA is unavailable: " +
                                             info.reason + " (use device 'cpu' or 'auto')");
      }
      return Device::Cuda;
    case Device::Auto: return (work >= kAutoCudaMinWork && cudaUsable()) ? Device::Cuda : Device::Cpu;
  }
  fail(ErrorCode::InvalidArgValue, std::string(op) + ": unknown device");
}

}  // namespace semrec
