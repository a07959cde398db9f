// CUDA plumbing shared by the kernels: errors that throw semrec::Error (never abort), RAII streams and
// stream-ordered buffers, and the ordered 64-bit ranking key.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "semrec/error.h"
#include "semrec/views.h"

namespace semrec::cuda {

[[noreturn]] inline void throwCudaError(cudaError_t error, const char* what, const char* file, int line) {
  const ErrorCode code = error == cudaErrorMemoryAllocation ? ErrorCode::OutOfMemory : ErrorCode::Cuda;
  throw Error(code, std::string("CUDA error ") + cudaGetErrorName(error) + " (" + cudaGetErrorString(error) + ") in " +
                        what + " at " + file + ":" + std::to_string(line));
}

#define SEMREC_CUDA_CHECK(expr)                                                            \
  do {                                                                                     \
    const cudaError_t semrecError_ = (expr);                                               \
    if (semrecError_ != cudaSuccess) ::semrec::cuda::throwCudaError(semrecError_, #expr, __FILE__, __LINE__); \
  } while (0)

// After each launch: the launch error always; with SEMREC_CUDA_SYNC_CHECK=1 in the environment the
// kernel's own errors too (synchronising, for debugging).
void checkLaunch(const char* kernel, cudaStream_t stream);

// Throws CudaUnavailable naming `op` when no usable GPU exists.
void requireGpu(const char* op);

class Stream {
 public:
  Stream() { SEMREC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  void sync() const { SEMREC_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
};

// Device memory owned for the life of one call, allocated and freed in stream order.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer(size_t count, cudaStream_t stream) : count_(count), stream_(stream) {
    if (count > 0) SEMREC_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&data_), count * sizeof(T), stream));
  }
  ~DeviceBuffer() {
    if (data_) cudaFreeAsync(data_, stream_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() const { return data_; }
  size_t size() const { return count_; }
  void upload(const T* host, size_t count, size_t offset = 0) {
    if (count) SEMREC_CUDA_CHECK(cudaMemcpyAsync(data_ + offset, host, count * sizeof(T), cudaMemcpyHostToDevice, stream_));
  }
  void download(T* host, size_t count, size_t offset = 0) const {
    if (count) SEMREC_CUDA_CHECK(cudaMemcpyAsync(host, data_ + offset, count * sizeof(T), cudaMemcpyDeviceToHost, stream_));
  }
  void fill(int byte) {
    if (count_) SEMREC_CUDA_CHECK(cudaMemsetAsync(data_, byte, count_ * sizeof(T), stream_));
  }

 private:
  T* data_ = nullptr;
  size_t count_ = 0;
  cudaStream_t stream_ = nullptr;
};

// A CSR matrix (exclusions, truth) copied to the device for the whole call; absent stays absent.
class DeviceCsr {
 public:
  DeviceCsr(const CsrView& csr, cudaStream_t stream)
      : present_(csr.present), indptr_(csr.present ? csr.rows + 1 : 0, stream), indices_(csr.present ? csr.nnz : 0, stream) {
    if (present_) {
      indptr_.upload(csr.indptr, csr.rows + 1);
      indices_.upload(csr.indices, csr.nnz);
    }
  }
  // indptr as seen from `row` on (so a chunk's row 0 is `row`), or null when there is no matrix.
  const int32_t* indptrFrom(int64_t row) const { return present_ ? indptr_.data() + row : nullptr; }
  const int32_t* indices() const { return present_ ? indices_.data() : nullptr; }

 private:
  bool present_;
  DeviceBuffer<int32_t> indptr_, indices_;
};

// Bytes of device memory one call may use for its working set: a quarter of what is free, at most 2 GiB.
size_t workingSetBytes();

// A key whose unsigned order is semrec's ranking order (higher score first, then lower column), and
// unique per column. 0 is never a valid key (even -inf maps above it), so 0 marks "not eligible".
__device__ __forceinline__ uint32_t orderedBits(float score) {
  if (score == 0.0f) score = 0.0f;  // -0 and +0 tie, as they do on the CPU
  const uint32_t bits = __float_as_uint(score);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}
__device__ __forceinline__ uint64_t rankKey(float score, int64_t col) {
  return (static_cast<uint64_t>(orderedBits(score)) << 32) | (0xFFFFFFFFull - static_cast<uint64_t>(col));
}
__device__ __forceinline__ int32_t keyColumn(uint64_t key) {
  return static_cast<int32_t>(0xFFFFFFFFull - (key & 0xFFFFFFFFull));
}

}  // namespace semrec::cuda
