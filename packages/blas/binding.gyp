{
  "targets": [
    {
      "target_name": "svg_blas",
      "sources": ["src/native/blas.c", "src/native/ops.c", "src/native/attention.c", "src/native/winograd.c", "src/native/optim.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O3", "-fno-trapping-math", "-fopenmp", "-Wall", "-Wextra"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-lopenblas"]
    }
  ]
}
