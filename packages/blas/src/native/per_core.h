// Many small products (attention heads, Winograd's 16 products, batched matmuls) run best one per core, each as a
// single-threaded sgemm: OpenBLAS' fork/join per call costs more than such a product. These switch OpenBLAS to one
// thread around such a region and back; the region itself is split over cores by OpenMP.
#pragma once
#include <cblas.h>

static inline int blas_one_thread(void) {
  const int threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  return threads;
}

static inline void blas_restore_threads(int threads) { openblas_set_num_threads(threads); }
