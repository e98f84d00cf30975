// 3×3, stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3): each 2×2 block of outputs comes from a 4×4
// input tile through 16 products instead of 36, so the work is 16 sgemms of [tiles, in]·[in, out] — 2.25× fewer
// multiply-adds than a direct or im2col conv — plus an input and an output transform that are cheap, vectorised
// passes over the channels. With the transforms' coefficients in {0, ±½, ±1} the result stays within a few float32
// rounding errors of the direct sum.
//
// winogradConv3x3(x, filter, bias, y, batch, h, w, in, out, oh, ow, padTop, padLeft)
//   x NHWC [batch, h, w, in], filter HWIO [3, 3, in, out], bias Float32Array(out) or (1) or null,
//   y [batch, oh, ow, out] = conv(x, filter) + bias, where y[b, i, j] reads x rows i − padTop … i − padTop + 2 and
//   columns j − padLeft … j − padLeft + 2 (zeros outside x).

#include <cblas.h>
#include <node_api.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "napi_args.h"
#include "per_core.h"
#include "vecmath.h"

#define BAND_FLOATS (1 << 21)  // transformed inputs and products of one band of tile rows (8 MiB; measured best)

// U[k] = G·g·Gᵀ for each (in, out) pair, k = 4·row + column of the 4×4 result; G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
MULTIVERSION static void transform_filter_row(const float* restrict g, float* restrict u, int64_t c, int64_t C,
                                              int64_t N) {
  const int64_t plane = C * N;  // distance between two of the nine taps, and between two of the 16 results
#pragma omp simd
  for (int64_t n = 0; n < N; n++) {
    float k[3][3], t[4][3];
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) k[i][j] = g[(i * 3 + j) * plane + c * N + n];
    for (int j = 0; j < 3; j++) {
      t[0][j] = k[0][j];
      t[1][j] = 0.5f * (k[0][j] + k[1][j] + k[2][j]);
      t[2][j] = 0.5f * (k[0][j] - k[1][j] + k[2][j]);
      t[3][j] = k[2][j];
    }
    for (int i = 0; i < 4; i++) {
      float* row = u + 4 * i * plane + c * N + n;
      row[0] = t[i][0];
      row[plane] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
      row[2 * plane] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
      row[3 * plane] = t[i][2];
    }
  }
}

static void transform_filter(const float* g, float* u, int64_t C, int64_t N) {
#pragma omp parallel for schedule(static) if (C * N >= 4096)
  for (int64_t c = 0; c < C; c++) transform_filter_row(g, u, c, C, N);
}

// V[k][tile] = Bᵀ·d·B of the tile's 4×4 patch d (channels innermost); Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
MULTIVERSION static void transform_tile(const float* restrict d, float* restrict v, int64_t C, int64_t stride) {
#pragma omp simd
  for (int64_t c = 0; c < C; c++) {
    float t[4][4];
    for (int j = 0; j < 4; j++) {
      const float d0 = d[(0 * 4 + j) * C + c], d1 = d[(1 * 4 + j) * C + c];
      const float d2 = d[(2 * 4 + j) * C + c], d3 = d[(3 * 4 + j) * C + c];
      t[0][j] = d0 - d2;
      t[1][j] = d1 + d2;
      t[2][j] = d2 - d1;
      t[3][j] = d1 - d3;
    }
    for (int i = 0; i < 4; i++) {
      v[(4 * i + 0) * stride + c] = t[i][0] - t[i][2];
      v[(4 * i + 1) * stride + c] = t[i][1] + t[i][2];
      v[(4 * i + 2) * stride + c] = t[i][2] - t[i][1];
      v[(4 * i + 3) * stride + c] = t[i][1] - t[i][3];
    }
  }
}

// The 2×2 outputs Aᵀ·m·A (+ bias) of one tile from its 16 products m[k] (each `stride` apart); Aᵀ = [1 1 1 0; 0 1 −1 −1].
// Outputs past the right or bottom edge go to a scratch row.
MULTIVERSION static void untransform_tile(const float* restrict m, int64_t stride, const float* restrict bias,
                                          int64_t bias_len, float* restrict y00, float* restrict y01,
                                          float* restrict y10, float* restrict y11, int64_t N) {
#pragma omp simd
  for (int64_t n = 0; n < N; n++) {
    float t[2][4];
    for (int j = 0; j < 4; j++) {
      const float m0 = m[(0 * 4 + j) * stride + n], m1 = m[(1 * 4 + j) * stride + n];
      const float m2 = m[(2 * 4 + j) * stride + n], m3 = m[(3 * 4 + j) * stride + n];
      t[0][j] = m0 + m1 + m2;
      t[1][j] = m1 - m2 - m3;
    }
    const float b = bias ? bias[bias_len == 1 ? 0 : n] : 0.0f;
    const float o00 = t[0][0] + t[0][1] + t[0][2] + b, o01 = t[0][1] - t[0][2] - t[0][3] + b;
    const float o10 = t[1][0] + t[1][1] + t[1][2] + b, o11 = t[1][1] - t[1][2] - t[1][3] + b;
    y00[n] = o00;
    y01[n] = o01;
    y10[n] = o10;
    y11[n] = o11;
  }
}

static napi_value winograd_conv3x3(napi_env env, napi_callback_info info) {
  napi_value argv[13];
  const char* fn = "winogradConv3x3";
  if (!arg_count(env, info,
                 "winogradConv3x3(x, filter, bias, y, batch, h, w, in, out, oh, ow, padTop, padLeft) takes 13 arguments",
                 13, argv)) {
    return NULL;
  }
  float *x, *g, *bias = NULL, *y;
  int64_t len_x, len_g, len_b = 0, len_y, B, H, W, C, N, OH, OW, pt, pl;
  napi_valuetype bias_type;
  napi_typeof(env, argv[2], &bias_type);
  if (!arg_f32(env, fn, argv[0], "x", false, (void**)&x, &len_x) ||
      !arg_f32(env, fn, argv[1], "filter", false, (void**)&g, &len_g) ||
      (bias_type != napi_null && !arg_f32(env, fn, argv[2], "bias", false, (void**)&bias, &len_b)) ||
      !arg_f32(env, fn, argv[3], "y", false, (void**)&y, &len_y) || !arg_int(env, fn, argv[4], "batch", &B) ||
      !arg_int(env, fn, argv[5], "h", &H) || !arg_int(env, fn, argv[6], "w", &W) ||
      !arg_int(env, fn, argv[7], "in", &C) || !arg_int(env, fn, argv[8], "out", &N) ||
      !arg_int(env, fn, argv[9], "oh", &OH) || !arg_int(env, fn, argv[10], "ow", &OW) ||
      !arg_int(env, fn, argv[11], "padTop", &pt) || !arg_int(env, fn, argv[12], "padLeft", &pl)) {
    return NULL;
  }
  if (bias && len_b != 1 && len_b != N) {
    napi_throw_range_error(env, NULL, "winogradConv3x3: bias must have 1 or `out` elements");
    return NULL;
  }
  if (!check_length(env, fn, "x", len_x, B * H * W * C) || !check_length(env, fn, "filter", len_g, 9 * C * N) ||
      !check_length(env, fn, "y", len_y, B * OH * OW * N)) {
    return NULL;
  }
  if (overlaps(y, B * OH * OW * N, x, B * H * W * C)) {
    napi_throw_error(env, NULL, "winogradConv3x3: y must not overlap x");
    return NULL;
  }
  if (B * OH * OW * N == 0) return NULL;
  const int64_t tiles_x = (OW + 1) / 2, tiles_y = (OH + 1) / 2;
  int64_t band_rows = BAND_FLOATS / (16 * (C + N) * tiles_x);
  if (band_rows < 1) band_rows = 1;
  if (band_rows > tiles_y) band_rows = tiles_y;
  const int64_t band_tiles = band_rows * tiles_x;
  // The 16 transformed matrices of a band, padded apart: at a power-of-two distance their rows would all fall into
  // the same cache sets, and the transforms touch all 16 at once.
  const int64_t v_stride = band_tiles * C + 16, m_stride = band_tiles * N + 16;
  float* u = malloc(sizeof(float) * 16 * C * N);
  float* v = malloc(sizeof(float) * 16 * v_stride);
  float* m = malloc(sizeof(float) * 16 * m_stride);
  const int threads = omp_get_max_threads();
  float* patches = malloc(sizeof(float) * 16 * C * threads);
  float* spill = malloc(sizeof(float) * N * threads);
  if (!u || !v || !m || !patches || !spill) {
    free(u), free(v), free(m), free(patches), free(spill);
    napi_throw_error(env, NULL, "winogradConv3x3: out of memory");
    return NULL;
  }
  const unsigned mode = flush_denormals();
  const int blas_threads = blas_one_thread();
  transform_filter(g, u, C, N);
  for (int64_t b = 0; b < B; b++) {
    const float* xb = x + b * H * W * C;
    float* yb = y + b * OH * OW * N;
    for (int64_t ty0 = 0; ty0 < tiles_y; ty0 += band_rows) {
      const int64_t rows = ty0 + band_rows < tiles_y ? band_rows : tiles_y - ty0, tiles = rows * tiles_x;
#pragma omp parallel for schedule(static) num_threads(threads)
      for (int64_t t = 0; t < tiles; t++) {
        const unsigned thread_mode = flush_denormals();
        float* d = patches + 16 * C * omp_get_thread_num();
        const int64_t iy0 = 2 * (ty0 + t / tiles_x) - pt, ix0 = 2 * (t % tiles_x) - pl;
        for (int i = 0; i < 4; i++) {
          const int64_t iy = iy0 + i;
          for (int j = 0; j < 4; j++) {
            const int64_t ix = ix0 + j;
            float* dst = d + (4 * i + j) * C;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) memset(dst, 0, sizeof(float) * C);
            else memcpy(dst, xb + (iy * W + ix) * C, sizeof(float) * C);
          }
        }
        transform_tile(d, v + t * C, C, v_stride);
        restore_float_mode(thread_mode);
      }
      // The 16 products are independent and small: one single-threaded sgemm per core (per_core.h).
#pragma omp parallel for schedule(dynamic) num_threads(threads)
      for (int k = 0; k < 16; k++) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)tiles, (int)N, (int)C, 1.0f,
                    v + k * v_stride, (int)C, u + k * C * N, (int)N, 0.0f, m + k * m_stride, (int)N);
      }
#pragma omp parallel for schedule(static) num_threads(threads)
      for (int64_t t = 0; t < tiles; t++) {
        const unsigned thread_mode = flush_denormals();
        const int64_t oy = 2 * (ty0 + t / tiles_x), ox = 2 * (t % tiles_x);
        float* row0 = yb + (oy * OW + ox) * N;
        float* row1 = row0 + OW * N;
        float* junk = spill + N * omp_get_thread_num();
        const int right = ox + 1 < OW, below = oy + 1 < OH;
        untransform_tile(m + t * N, m_stride, bias, len_b, row0, right ? row0 + N : junk, below ? row1 : junk,
                         right && below ? row1 + N : junk, N);
        restore_float_mode(thread_mode);
      }
    }
  }
  blas_restore_threads(blas_threads);
  restore_float_mode(mode);
  free(u), free(v), free(m), free(patches), free(spill);
  return NULL;
}

void register_winograd(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"winogradConv3x3", NULL, winograd_conv3x3, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 1, props);
}
