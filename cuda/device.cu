// GPU discovery. Probed once per process: a missing driver or GPU is a normal answer, never an abort.
#include <cuda_runtime.h>

#include <mutex>
#include <string>

#include "semrec/device.h"

namespace semrec {

namespace {

DeviceInfo probe() {
  DeviceInfo info;
  info.cudaCompiled = true;
  info.cpuThreads = hardwareThreads();
  cudaRuntimeGetVersion(&info.runtimeVersion);
  if (cudaDriverGetVersion(&info.driverVersion) != cudaSuccess) info.driverVersion = 0;
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    info.reason = std::string("no usable CUDA driver or device (") + cudaGetErrorName(error) + ": " +
                  cudaGetErrorString(error) + ")";
    cudaGetLastError();
    return info;
  }
  if (count == 0) {
    info.reason = "no CUDA device found";
    return info;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, i) != cudaSuccess) continue;
    GpuInfo gpu;
    gpu.index = i;
    gpu.name = props.name;
    gpu.totalMemoryBytes = static_cast<int64_t>(props.totalGlobalMem);
    gpu.computeMajor = props.major;
    gpu.computeMinor = props.minor;
    gpu.multiProcessors = props.multiProcessorCount;
    info.gpus.push_back(gpu);
  }
  // Creating the context is the real test: a device can be listed and still be unusable.
  const cudaError_t context = cudaFree(nullptr);
  if (context != cudaSuccess) {
    info.reason = std::string("the CUDA device could not be initialised (") + cudaGetErrorName(context) + ")";
    cudaGetLastError();
    return info;
  }
  info.cudaAvailable = !info.gpus.empty();
  if (!info.cudaAvailable) info.reason = "no CUDA device could be queried";
  return info;
}

const DeviceInfo& cachedProbe() {
  static std::once_flag once;
  static DeviceInfo info;
  std::call_once(once, [] { info = probe(); });
  return info;
}

}  // namespace

DeviceInfo deviceInfo() {
  DeviceInfo info = cachedProbe();
  for (GpuInfo& gpu : info.gpus) {
    int current = 0;
    size_t freeBytes = 0, totalBytes = 0;
    if (cudaGetDevice(&current) == cudaSuccess && current == gpu.index && cudaMemGetInfo(&freeBytes, &totalBytes) == cudaSuccess)
      gpu.freeMemoryBytes = static_cast<int64_t>(freeBytes);
  }
  return info;
}

bool cudaUsable() { return cachedProbe().cudaAvailable; }

}  // namespace semrec
