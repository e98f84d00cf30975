{
  "targets": [
    {
      "target_name": "svg_mpi",
      "sources": ["src/native/mpi.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra", "<!@(pkg-config --cflags ompi-c 2>/dev/null || pkg-config --cflags mpich 2>/dev/null || mpicc --showme:compile)"],
      "libraries": ["<!@(pkg-config --libs ompi-c 2>/dev/null || pkg-config --libs mpich 2>/dev/null || mpicc --showme:link)", "-ldl"]
    }
  ]
}
