// N-API binding of OpenBLAS' cblas_sgemm over Float32Arrays, for @svg/blas (the other kernels are in ops.c).
//
// sgemm(a, b, c, batch, m, n, k, transA, transB, strideA, strideB, beta)
//   for i in [0, batch): C_i = op(A_i) * op(B_i) + beta * C_i   (row-major)
//   A_i = a[i * strideA ...], B_i = b[i * strideB ...], C_i = c[i * m * n ...]; a stride of 0 broadcasts.
//   op(A_i) is m x k (A_i stored [m, k], or [k, m] when transA); op(B_i) is k x n (stored [k, n], or [n, k]).
// info() -> { config, threads }

#include <cblas.h>
#include <node_api.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "napi_args.h"
#include "per_core.h"

#define SMALL_PRODUCT (1 << 24)  // multiply-adds per product below which batched products run one per core

void register_ops(napi_env env, napi_value exports);        // ops.c
void register_attention(napi_env env, napi_value exports);  // attention.c
void register_winograd(napi_env env, napi_value exports);   // winograd.c
void register_optim(napi_env env, napi_value exports);      // optim.c

static napi_value sgemm(napi_env env, napi_callback_info info) {
  napi_value argv[12];
  if (!arg_count(env, info, "sgemm(a, b, c, batch, m, n, k, transA, transB, strideA, strideB, beta) takes 12 arguments",
                 12, argv)) {
    return NULL;
  }
  float *a, *b, *c;
  int64_t len_a, len_b, len_c, batch, m, n, k, stride_a, stride_b;
  bool trans_a, trans_b;
  double beta;
  const char* fn = "sgemm";
  if (!arg_f32(env, fn, argv[0], "a", false, (void**)&a, &len_a) ||
      !arg_f32(env, fn, argv[1], "b", false, (void**)&b, &len_b) ||
      !arg_f32(env, fn, argv[2], "c", false, (void**)&c, &len_c) || !arg_int(env, fn, argv[3], "batch", &batch) ||
      !arg_int(env, fn, argv[4], "m", &m) || !arg_int(env, fn, argv[5], "n", &n) || !arg_int(env, fn, argv[6], "k", &k) ||
      !arg_bool(env, fn, argv[7], "transA", &trans_a) || !arg_bool(env, fn, argv[8], "transB", &trans_b) ||
      !arg_int(env, fn, argv[9], "strideA", &stride_a) || !arg_int(env, fn, argv[10], "strideB", &stride_b) ||
      !arg_number(env, fn, argv[11], "beta", &beta)) {
    return NULL;
  }
  if (batch == 0 || m == 0 || n == 0) return NULL;

  // All products stay below 2^62: every factor is below 2^31.
  int64_t need_a = (batch - 1) * stride_a + m * k;
  int64_t need_b = (batch - 1) * stride_b + k * n;
  int64_t need_c = batch * m * n;
  if (!check_length(env, fn, "a", len_a, need_a) || !check_length(env, fn, "b", len_b, need_b) ||
      !check_length(env, fn, "c", len_c, need_c)) {
    return NULL;
  }
  if (overlaps(c, need_c, a, need_a) || overlaps(c, need_c, b, need_b)) {
    napi_throw_error(env, NULL, "sgemm: c must not overlap a or b");
    return NULL;
  }

  const int lda = (int)(trans_a ? m : k), ldb = (int)(trans_b ? k : n);
  // Many small products (attention heads) run one per core (per_core.h).
  const bool per_core = batch > 1 && m * n * k < SMALL_PRODUCT;
  const int blas_threads = per_core ? blas_one_thread() : 0;
#pragma omp parallel for schedule(dynamic) if (per_core)
  for (int64_t i = 0; i < batch; i++) {
    float* ci = c + i * m * n;
    if (k == 0) {  // BLAS wants leading dimensions >= 1; an empty product is beta * C
      for (int64_t j = 0; j < m * n; j++) ci[j] = beta == 0 ? 0.0f : (float)(beta * ci[j]);
      continue;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m,
                (int)n, (int)k, 1.0f, a + i * stride_a, lda, b + i * stride_b, ldb, (float)beta, ci, (int)n);
  }
  if (per_core) blas_restore_threads(blas_threads);
  return NULL;
}

static napi_value blas_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, config, threads;
  const char* cfg = openblas_get_config();
  napi_create_object(env, &result);
  napi_create_string_utf8(env, cfg ? cfg : "", NAPI_AUTO_LENGTH, &config);
  napi_create_int32(env, openblas_get_num_threads(), &threads);
  napi_set_named_property(env, result, "config", config);
  napi_set_named_property(env, result, "threads", threads);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemm", NULL, sgemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"info", NULL, blas_info, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  register_ops(env, exports);
  register_attention(env, exports);
  register_winograd(env, exports);
  register_optim(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
