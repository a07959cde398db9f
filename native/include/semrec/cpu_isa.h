// The widest vector instruction set the CPU offers to the trainers' hand-vectorised kernels, read once.
// SEMREC_CPU_ISA=baseline|avx2|avx512 caps it (never raises it), so tests and benchmarks can run the
// narrower paths on a machine that has the wider ones.
#pragma once

#include <cstdlib>
#include <cstring>

// Compiles a function for AVX-512, AVX2 and baseline x86-64, the version picked at load time: plain
// element-wise loops then vectorise at each width (and give the same bits on each, having no reductions).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SEMREC_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SEMREC_VECTOR_CLONES
#endif

namespace semrec {

enum class CpuIsa { Baseline = 0, Avx2 = 1, Avx512 = 2 };

inline CpuIsa detectCpuIsa() {
  CpuIsa isa = CpuIsa::Baseline;
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa = CpuIsa::Avx2;
  if (isa == CpuIsa::Avx2 && __builtin_cpu_supports("avx512f")) isa = CpuIsa::Avx512;
#endif
  if (const char* cap = std::getenv("SEMREC_CPU_ISA")) {
    CpuIsa limit = isa;
    if (!std::strcmp(cap, "baseline")) limit = CpuIsa::Baseline;
    else if (!std::strcmp(cap, "avx2")) limit = CpuIsa::Avx2;
    if (limit < isa) isa = limit;
  }
  return isa;
}

inline CpuIsa cpuIsa() {
  static const CpuIsa isa = detectCpuIsa();
  return isa;
}

}  // namespace semrec
