// Device discovery and the choice between CPU and CUDA for one call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "semrec/views.h"

namespace semrec {

struct GpuInfo {
  int index = 0;
  std::string name;
  int64_t totalMemoryBytes = 0;
  int64_t freeMemoryBytes = 0;
  int computeMajor = 0;
  int computeMinor = 0;
  int multiProcessors = 0;
};

struct DeviceInfo {
  bool cudaCompiled = false;   // this build contains the CUDA kernels
  bool cudaAvailable = false;  // ...and a GPU they can run on answered
  std::string reason;          // why CUDA is unavailable, when it is
  int runtimeVersion = 0;      // CUDA runtime linked in (e.g. 13000)
  int driverVersion = 0;       // 0 when no driver is installed
  std::vector<GpuInfo> gpus;
  int cpuThreads = 1;
};

// Probes the GPU once per process (the answer cannot change under a running process) and reports it.
DeviceInfo deviceInfo();
bool cudaUsable();

// Below this much work (multiply-adds or scanned scores) 'auto' stays on the CPU: copying the inputs
// to the GPU would cost more than the CPU needs for the whole op.
constexpr double kAutoCudaMinWork = 8.0 * 1024 * 1024;

// Resolves 'auto'; throws CudaUnavailable when 'cuda' is asked for and cannot be had.
Device resolveDevice(Device requested, double work, const char* op);

int hardwareThreads();

}  // namespace semrec
