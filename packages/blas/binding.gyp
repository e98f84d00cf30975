{
  "targets": [
    {
      "target_name": "svg_blas",
      "sources": ["src/native/blas.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "libraries": ["-lopenblas"]
    }
  ]
}
