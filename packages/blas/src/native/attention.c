// Scaled dot-product attention in one call, so the [queries, keys] score matrix never leaves this function:
//
// attention(q, k, v, out, batch, tq, tk, d, dv, scale)
//   for each i < batch: out_i = softmax(scale · q_i · k_iᵀ) · v_i,  q_i [tq, d], k_i [tk, d], v_i [tk, dv], out_i [tq, dv]
//
// The scores of a block of queries go into a per-thread buffer (at most 4M floats in all), are softmaxed in place
// (max-shifted, as torch.softmax) and multiplied by v_i: two OpenBLAS sgemms and one pass over the block.
//
// attentionBackward(q, k, v, dy, dq, dk, dv, batch, tq, tk, d, dv_dim, scale)
//   the gradients of that output for the upstream gradient dy [batch, tq, dv_dim]: per block of queries P is recomputed,
//   dS = P ⊙ (dy·vᵀ − rowsum(dy·vᵀ ⊙ P)), dq = scale·dS·k, dk += scale·dSᵀ·q, dv += Pᵀ·dy (five sgemms, two buffers)

#include <cblas.h>
#include <node_api.h>
#include <omp.h>
#include <stdlib.h>

#include "napi_args.h"
#include "per_core.h"
#include "vecmath.h"

#define SCORE_FLOATS (1 << 22)

MULTIVERSION static void softmax_rows(float* s, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; r++) {
    float* row = s + r * n;
    float max = row[0];
#pragma omp simd reduction(max : max)
    for (int64_t j = 1; j < n; j++) max = row[j] > max ? row[j] : max;
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; j++) {
      row[j] = exp_poly(row[j] - max);
      sum += row[j];
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) row[j] *= inv;
  }
}

static napi_value attention(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  const char* fn = "attention";
  if (!arg_count(env, info, "attention(q, k, v, out, batch, tq, tk, d, dv, scale) takes 10 arguments", 10, argv)) {
    return NULL;
  }
  float *q, *k, *v, *out;
  int64_t len_q, len_k, len_v, len_out, batch, tq, tk, d, dv;
  double scale;
  if (!arg_f32(env, fn, argv[0], "q", false, (void**)&q, &len_q) ||
      !arg_f32(env, fn, argv[1], "k", false, (void**)&k, &len_k) ||
      !arg_f32(env, fn, argv[2], "v", false, (void**)&v, &len_v) ||
      !arg_f32(env, fn, argv[3], "out", false, (void**)&out, &len_out) || !arg_int(env, fn, argv[4], "batch", &batch) ||
      !arg_int(env, fn, argv[5], "tq", &tq) || !arg_int(env, fn, argv[6], "tk", &tk) ||
      !arg_int(env, fn, argv[7], "d", &d) || !arg_int(env, fn, argv[8], "dv", &dv) ||
      !arg_number(env, fn, argv[9], "scale", &scale)) {
    return NULL;
  }
  if (!check_length(env, fn, "q", len_q, batch * tq * d) || !check_length(env, fn, "k", len_k, batch * tk * d) ||
      !check_length(env, fn, "v", len_v, batch * tk * dv) || !check_length(env, fn, "out", len_out, batch * tq * dv)) {
    return NULL;
  }
  const int64_t n_out = batch * tq * dv;
  if (overlaps(out, n_out, q, batch * tq * d) || overlaps(out, n_out, k, batch * tk * d) ||
      overlaps(out, n_out, v, batch * tk * dv)) {
    napi_throw_error(env, NULL, "attention: out must not overlap q, k or v");
    return NULL;
  }
  if (n_out == 0) return NULL;
  if (tk == 0 || d == 0) {
    napi_throw_range_error(env, NULL, "attention: needs at least one key and a head dimension of at least 1");
    return NULL;
  }
  // Items run in parallel, one per core, each with single-threaded sgemms (per_core.h).
  const int threads = omp_get_max_threads();
  const int64_t block = tk >= SCORE_FLOATS / threads ? 1 : (SCORE_FLOATS / threads / tk < tq ? SCORE_FLOATS / threads / tk : tq);
  float* scores = malloc(sizeof(float) * block * tk * threads);
  if (!scores) {
    napi_throw_error(env, NULL, "attention: out of memory for the scores");
    return NULL;
  }
  const int blas_threads = blas_one_thread();
#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (int64_t i = 0; i < batch; i++) {
    const unsigned mode = flush_denormals();
    float* s = scores + block * tk * omp_get_thread_num();
    const float *qi = q + i * tq * d, *ki = k + i * tk * d, *vi = v + i * tk * dv;
    for (int64_t r0 = 0; r0 < tq; r0 += block) {
      const int64_t rows = r0 + block < tq ? block : tq - r0;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)tk, (int)d, (float)scale, qi + r0 * d, (int)d,
                  ki, (int)d, 0.0f, s, (int)tk);
      softmax_rows(s, rows, tk);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)dv, (int)tk, 1.0f, s, (int)tk, vi,
                  (int)dv, 0.0f, out + (i * tq + r0) * dv, (int)dv);
    }
    restore_float_mode(mode);
  }
  blas_restore_threads(blas_threads);
  free(scores);
  return NULL;
}

// dS = P ⊙ (dP − rowsum(dP ⊙ P)), in place in dp.
MULTIVERSION static void softmax_backward_rows(const float* p, float* dp, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; r++) {
    const float* pr = p + r * n;
    float* dr = dp + r * n;
    float c = 0;
#pragma omp simd reduction(+ : c)
    for (int64_t j = 0; j < n; j++) c += dr[j] * pr[j];
#pragma omp simd
    for (int64_t j = 0; j < n; j++) dr[j] = pr[j] * (dr[j] - c);
  }
}

static napi_value attention_backward(napi_env env, napi_callback_info info) {
  napi_value argv[13];
  const char* fn = "attentionBackward";
  if (!arg_count(env, info, "attentionBackward(q, k, v, dy, dq, dk, dv, batch, tq, tk, d, dvDim, scale) takes 13 arguments",
                 13, argv)) {
    return NULL;
  }
  float *q, *k, *v, *dy, *dq, *dk, *dv;
  int64_t len_q, len_k, len_v, len_dy, len_dq, len_dk, len_dv, batch, tq, tk, d, e;
  double scale;
  if (!arg_f32(env, fn, argv[0], "q", false, (void**)&q, &len_q) ||
      !arg_f32(env, fn, argv[1], "k", false, (void**)&k, &len_k) ||
      !arg_f32(env, fn, argv[2], "v", false, (void**)&v, &len_v) ||
      !arg_f32(env, fn, argv[3], "dy", false, (void**)&dy, &len_dy) ||
      !arg_f32(env, fn, argv[4], "dq", false, (void**)&dq, &len_dq) ||
      !arg_f32(env, fn, argv[5], "dk", false, (void**)&dk, &len_dk) ||
      !arg_f32(env, fn, argv[6], "dv", false, (void**)&dv, &len_dv) || !arg_int(env, fn, argv[7], "batch", &batch) ||
      !arg_int(env, fn, argv[8], "tq", &tq) || !arg_int(env, fn, argv[9], "tk", &tk) ||
      !arg_int(env, fn, argv[10], "d", &d) || !arg_int(env, fn, argv[11], "dvDim", &e) ||
      !arg_number(env, fn, argv[12], "scale", &scale)) {
    return NULL;
  }
  const int64_t nq = batch * tq * d, nk = batch * tk * d, nv = batch * tk * e, ny = batch * tq * e;
  if (!check_length(env, fn, "q", len_q, nq) || !check_length(env, fn, "k", len_k, nk) ||
      !check_length(env, fn, "v", len_v, nv) || !check_length(env, fn, "dy", len_dy, ny) ||
      !check_length(env, fn, "dq", len_dq, nq) || !check_length(env, fn, "dk", len_dk, nk) ||
      !check_length(env, fn, "dv", len_dv, nv)) {
    return NULL;
  }
  const float* ins[] = {q, k, v, dy};
  const int64_t in_len[] = {nq, nk, nv, ny};
  float* outs[] = {dq, dk, dv};
  const int64_t out_len[] = {nq, nk, nv};
  for (int o = 0; o < 3; o++) {
    for (int i = 0; i < 4; i++) {
      if (overlaps(outs[o], out_len[o], ins[i], in_len[i])) {
        napi_throw_error(env, NULL, "attentionBackward: dq, dk and dv must not overlap the inputs");
        return NULL;
      }
    }
  }
  if (tk == 0 || d == 0 || tq == 0) {
    napi_throw_range_error(env, NULL, "attentionBackward: needs at least one query, one key and a head dimension of 1");
    return NULL;
  }
  const int threads = omp_get_max_threads();
  const int64_t half = SCORE_FLOATS / 2 / threads;
  const int64_t block = tk >= half ? 1 : (half / tk < tq ? half / tk : tq);
  float* scores = malloc(sizeof(float) * 2 * block * tk * threads);
  if (!scores) {
    napi_throw_error(env, NULL, "attentionBackward: out of memory for the scores");
    return NULL;
  }
  const int blas_threads = blas_one_thread();
#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (int64_t i = 0; i < batch; i++) {
    const unsigned mode = flush_denormals();
    float* p = scores + 2 * block * tk * omp_get_thread_num();
    float* ds = p + block * tk;
    const float *qi = q + i * tq * d, *ki = k + i * tk * d, *vi = v + i * tk * e, *dyi = dy + i * tq * e;
    float *dki = dk + i * tk * d, *dvi = dv + i * tk * e;
    for (int64_t r0 = 0; r0 < tq; r0 += block) {
      const int rows = (int)(r0 + block < tq ? block : tq - r0);
      const float beta = r0 == 0 ? 0.0f : 1.0f;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, (int)tk, (int)d, (float)scale, qi + r0 * d, (int)d, ki,
                  (int)d, 0.0f, p, (int)tk);
      softmax_rows(p, rows, tk);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, (int)tk, (int)e, 1.0f, dyi + r0 * e, (int)e, vi,
                  (int)e, 0.0f, ds, (int)tk);
      softmax_backward_rows(p, ds, rows, tk);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, (int)d, (int)tk, (float)scale, ds, (int)tk, ki,
                  (int)d, 0.0f, dq + (i * tq + r0) * d, (int)d);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)tk, (int)d, rows, (float)scale, ds, (int)tk,
                  qi + r0 * d, (int)d, beta, dki, (int)d);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)tk, (int)e, rows, 1.0f, p, (int)tk, dyi + r0 * e,
                  (int)e, beta, dvi, (int)e);
    }
    restore_float_mode(mode);
  }
  blas_restore_threads(blas_threads);
  free(scores);
  return NULL;
}

void register_attention(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"attention", NULL, attention, NULL, NULL, NULL, napi_enumerable, NULL},
      {"attentionBackward", NULL, attention_backward, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
