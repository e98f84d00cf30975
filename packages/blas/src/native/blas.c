// N-API binding of OpenBLAS' cblas_sgemm over Float32Arrays, for @svg/blas.
//
// sgemm(a, b, c, batch, m, n, k, transA, transB, strideA, strideB, beta)
//   for i in [0, batch): C_i = op(A_i) * op(B_i) + beta * C_i   (row-major)
//   A_i = a[i * strideA ...], B_i = b[i * strideB ...], C_i = c[i * m * n ...]; a stride of 0 broadcasts.
//   op(A_i) is m x k (A_i stored [m, k], or [k, m] when transA); op(B_i) is k x n (stored [k, n], or [n, k]).
// info() -> { config, threads }

#include <cblas.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAX_DIM 2147483647LL  // cblas takes 32-bit ints

static void throw_type(napi_env env, const char* fmt, const char* name) {
  char msg[256];
  snprintf(msg, sizeof msg, fmt, name);
  napi_throw_type_error(env, NULL, msg);
}

static bool get_f32(napi_env env, napi_value v, const char* name, float** data, int64_t* length) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  napi_typedarray_type type;
  size_t len = 0;
  void* ptr = NULL;
  if (!is_typed || napi_get_typedarray_info(env, v, &type, &len, &ptr, NULL, NULL) != napi_ok ||
      type != napi_float32_array) {
    throw_type(env, "sgemm: %s must be a Float32Array", name);
    return false;
  }
  *data = (float*)ptr;
  *length = (int64_t)len;
  return true;
}

static bool get_int(napi_env env, napi_value v, const char* name, int64_t* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    throw_type(env, "sgemm: %s must be a number", name);
    return false;
  }
  if (!(d >= 0 && d <= (double)MAX_DIM) || d != (double)(int64_t)d) {
    char msg[256];
    snprintf(msg, sizeof msg, "sgemm: %s must be an integer in [0, 2^31), got %g", name, d);
    napi_throw_range_error(env, NULL, msg);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

static bool get_bool(napi_env env, napi_value v, const char* name, bool* out) {
  if (napi_get_value_bool(env, v, out) != napi_ok) {
    throw_type(env, "sgemm: %s must be a boolean", name);
    return false;
  }
  return true;
}

static bool check_length(napi_env env, const char* name, int64_t have, int64_t need) {
  if (have >= need) return true;
  char msg[256];
  snprintf(msg, sizeof msg, "sgemm: %s has %lld elements, the shapes and strides need %lld", name, (long long)have,
           (long long)need);
  napi_throw_range_error(env, NULL, msg);
  return false;
}

static bool overlaps(const float* p, int64_t np, const float* q, int64_t nq) {
  return np > 0 && nq > 0 && p < q + nq && q < p + np;
}

static napi_value sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 12) {
    napi_throw_type_error(env, NULL,
                          "sgemm(a, b, c, batch, m, n, k, transA, transB, strideA, strideB, beta) takes 12 arguments");
    return NULL;
  }
  float *a, *b, *c;
  int64_t len_a, len_b, len_c, batch, m, n, k, stride_a, stride_b;
  bool trans_a, trans_b;
  double beta;
  if (!get_f32(env, argv[0], "a", &a, &len_a) || !get_f32(env, argv[1], "b", &b, &len_b) ||
      !get_f32(env, argv[2], "c", &c, &len_c) || !get_int(env, argv[3], "batch", &batch) ||
      !get_int(env, argv[4], "m", &m) || !get_int(env, argv[5], "n", &n) || !get_int(env, argv[6], "k", &k) ||
      !get_bool(env, argv[7], "transA", &trans_a) || !get_bool(env, argv[8], "transB", &trans_b) ||
      !get_int(env, argv[9], "strideA", &stride_a) || !get_int(env, argv[10], "strideB", &stride_b)) {
    return NULL;
  }
  if (napi_get_value_double(env, argv[11], &beta) != napi_ok) {
    throw_type(env, "sgemm: %s must be a number", "beta");
    return NULL;
  }
  if (batch == 0 || m == 0 || n == 0) return NULL;

  // All products stay below 2^62: every factor is below 2^31.
  int64_t need_a = (batch - 1) * stride_a + m * k;
  int64_t need_b = (batch - 1) * stride_b + k * n;
  int64_t need_c = batch * m * n;
  if (!check_length(env, "a", len_a, need_a) || !check_length(env, "b", len_b, need_b) ||
      !check_length(env, "c", len_c, need_c)) {
    return NULL;
  }
  if (overlaps(c, need_c, a, need_a) || overlaps(c, need_c, b, need_b)) {
    napi_throw_error(env, NULL, "sgemm: c must not overlap a or b");
    return NULL;
  }

  const int lda = (int)(trans_a ? m : k), ldb = (int)(trans_b ? k : n);
  for (int64_t i = 0; i < batch; i++) {
    float* ci = c + i * m * n;
    if (k == 0) {  // BLAS wants leading dimensions >= 1; an empty product is beta * C
      for (int64_t j = 0; j < m * n; j++) ci[j] = beta == 0 ? 0.0f : (float)(beta * ci[j]);
      continue;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m,
                (int)n, (int)k, 1.0f, a + i * stride_a, lda, b + i * stride_b, ldb, (float)beta, ci, (int)n);
  }
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
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
