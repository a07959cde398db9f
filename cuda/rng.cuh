// Device twin of semrec::train::Rng (xoshiro256** seeded through SplitMix64 from (seed, stream)) and of
// dropoutMaskStream (semrec/adapter.h), so GPU trainers drop exactly the values the CPU trainers drop.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace semrec::cuda {

struct DeviceRng {
  uint64_t s[4];
  __device__ static uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  __device__ static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  __device__ DeviceRng(uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; ++i) s[i] = splitmix64(x);
  }
  __device__ uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};

// Dropout parameters as the host computes them: threshold = round(p x 65536), keep = 1 / (1 - p).
struct DropoutParams {
  uint32_t threshold = 0;
  float keep = 1.0f;
};

// One mask of `width` values, drawn sequentially by the calling thread.
__device__ inline void dropoutMaskDevice(uint64_t seed, uint64_t stream, DropoutParams p, int64_t width, float* out) {
  if (p.threshold == 0) {
    for (int64_t t = 0; t < width; ++t) out[t] = p.keep;
    return;
  }
  DeviceRng rng(seed, stream);
  uint64_t word = 0;
  for (int64_t t = 0; t < width; ++t) {
    if (t % 4 == 0) word = rng.next();
    const uint32_t u = static_cast<uint32_t>((word >> (16 * (t % 4))) & 0xFFFFu);
    out[t] = u < p.threshold ? 0.0f : p.keep;
  }
}

}  // namespace semrec::cuda
