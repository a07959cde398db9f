# node-gyp build of the CPU addon (build/Release/semrec.node). The CUDA variant is built by
# CMakeLists.txt; both take their sources from native/sources.json.
{
  "targets": [
    {
      "target_name": "semrec",
      "sources": [
        "<!@(node -p \"const s = require('./native/sources.json'); [...s.core, ...s.napi, ...s.cpuOnly].join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include"
      ],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: while an environment is torn down (worker.terminate()),
      # node-addon-api drops errors it can no longer throw instead of aborting the process.
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fopenmp-simd", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-pthread"]
    }
  ]
}
