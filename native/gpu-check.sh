#!/usr/bin/env bash
# Proves the CUDA kernels on a machine with an NVIDIA GPU and the CUDA toolkit; Node is not needed.
# Builds the Node-free programs from the same sources as the addon, runs every CUDA op against its CPU
# twin (native/tests), runs compute-sanitizer (memcheck, racecheck) over them, and writes the GPU
# benchmark as JSON: the ranking ops (topK, scoreTopK, rankingMetrics) and the sequential recommenders'
# transformer (gradient with dropout, Adam epoch with clipping, encode; sasrecEpoch / bert4recEpoch timings on
# MovieLens-100K-shaped workloads). Usage (from the repository root):  native/gpu-check.sh <out-dir>
# Then copy <out-dir>/gpu-bench.json to bench/results/<gpu>-<date>.json and quote it in README.
set -euo pipefail
out="${1:-build-gpu/out}"
mkdir -p "$out"
build=build-gpu

nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv | tee "$out/gpu.txt"
nvcc --version | tail -1 | tee -a "$out/gpu.txt"
arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')"
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$build" "${generator[@]}" -DSEMREC_NODE=OFF -DSEMREC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch"
cmake --build "$build" --parallel

status=0
"./$build/semrec_native_tests" 2>&1 | tee "$out/native-tests.txt" || status=1
grep -c '^ok   cuda transformer' "$out/native-tests.txt" | sed 's/^/CUDA transformer parity cases passed: /'
if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck; do
    compute-sanitizer --tool "$tool" --error-exitcode 3 "./$build/semrec_native_tests" >"$out/sanitizer-$tool.txt" 2>&1 \
      && echo "compute-sanitizer $tool: clean" || { echo "compute-sanitizer $tool: FAILED (see $out/sanitizer-$tool.txt)"; status=1; }
  done
fi
"./$build/semrec_native_bench" >"$out/gpu-bench.json"
echo "wrote $out/gpu-bench.json"
exit "$status"
