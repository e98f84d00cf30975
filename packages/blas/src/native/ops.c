// Memory-bound kernels that tfjs' wasm backend runs slowly (single-threaded, often scalar): transpose, tanh, sigmoid,
// the fused tanh-GELU and SiLU, layer norm, group norm, sums and means. Each splits its work over OpenMP threads when
// the tensor is large enough to pay for it, and is compiled twice (AVX2 and baseline x86-64) with the CPU picking at load time.
//
// transpose(x, out, shape, perm)                 4-byte elements (float32 or int32), any rank <= 8
// unary(op, x, out)                              op 0: tanh, 1: tanh-GELU 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))),
//                                                2: sigmoid, 3: SiLU x·sigmoid(x)
// layerNorm(x, out, rows, cols, eps, gamma, beta) over each row of `cols`; gamma/beta: Float32Array(cols) or null
// groupNorm(x, out, batch, spatial, channels, groups, eps, gamma, beta, silu)
//                                                channels-last x [batch, spatial, channels], statistics per (batch,
//                                                group) over spatial × channels/groups; gamma/beta as above; then
//                                                SiLU when silu is true
// unaryGrad(op, x, dy, out)                      out = dy · f'(x) for op 1 (tanh-GELU) or 3 (SiLU) of unary
// layerNormBackward(x, dy, gamma, dx, dgamma, dbeta, rows, cols, eps)
//                                                gradients of layerNorm for the upstream gradient dy: dx, and
//                                                dgamma = Σ_rows dy·x̂, dbeta = Σ_rows dy (gamma may be null)
// reduceSum(x, out, outer, reduce, inner, scale) out[o, i] = scale · Σ_r x[o, r, i] for x [outer, reduce, inner]
//                                                (row-major), summed in double: tfjs' Sum and Mean (scale 1/reduce)

#include <math.h>
#include <node_api.h>
#include <stdlib.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "napi_args.h"
#include "vecmath.h"

#define MAX_RANK 8
#define PARALLEL_MIN 32768  // elements below which threads cost more than they save


// ---------------------------------------------------------------------------------------------------------- transpose

typedef struct {
  int rank;
  int64_t shape[MAX_RANK];   // output shape
  int64_t stride[MAX_RANK];  // input stride of each output axis
} Layout;

// Output axes, after dropping size-1 axes and merging runs of axes that stay adjacent and in order (they move as one
// block); strides are those of the input with its size-1 axes dropped, so its innermost moving axis has stride 1.
static Layout plan_transpose(int rank, const int64_t* in_shape, const int64_t* perm) {
  int64_t in_stride[MAX_RANK];
  int64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    in_stride[i] = s;
    if (in_shape[i] > 1) s *= in_shape[i];
  }
  Layout l = {0, {0}, {0}};
  for (int i = 0; i < rank; i++) {
    int64_t axis = perm[i];
    if (in_shape[axis] == 1) continue;
    if (l.rank > 0 && l.stride[l.rank - 1] == in_stride[axis] * in_shape[axis]) {
      l.shape[l.rank - 1] *= in_shape[axis];
      l.stride[l.rank - 1] = in_stride[axis];
    } else {
      l.shape[l.rank] = in_shape[axis];
      l.stride[l.rank] = in_stride[axis];
      l.rank++;
    }
  }
  return l;
}

// Input offset of the output block with index `block` over the axes [0, axes), skipping axis `skip` (or -1).
static int64_t block_offset(const Layout* l, int axes, int skip, int64_t block) {
  int64_t offset = 0;
  for (int i = axes - 1; i >= 0; i--) {
    if (i == skip) continue;
    offset += (block % l->shape[i]) * l->stride[i];
    block /= l->shape[i];
  }
  return offset;
}

#define TILE 16

static void transpose_run(const uint32_t* x, uint32_t* out, const Layout* l, int64_t total) {
  if (l->rank <= 1) {  // nothing moves: a copy
    memcpy(out, x, total * sizeof *x);
    return;
  }
  const int last = l->rank - 1;
  if (l->stride[last] == 1) {  // rows of the output are contiguous rows of the input
    const int64_t row = l->shape[last], rows = total / row;
#pragma omp parallel for schedule(static) if (total >= PARALLEL_MIN)
    for (int64_t r = 0; r < rows; r++) memcpy(out + r * row, x + block_offset(l, last, -1, r), row * sizeof *x);
    return;
  }
  // The output's last axis walks the input with stride sa; the input's last axis sits at output axis b with output
  // stride ob. Copy 16×16 tiles of that (b, last) plane for each index of the other axes.
  int b = 0;
  while (l->stride[b] != 1) b++;
  int64_t ob = 1;
  for (int i = last; i > b; i--) ob *= l->shape[i];
  const int64_t na = l->shape[last], nb = l->shape[b], sa = l->stride[last];
  const int64_t planes = total / (na * nb), tiles_b = (nb + TILE - 1) / TILE;
#pragma omp parallel for schedule(static) if (total >= PARALLEL_MIN)
  for (int64_t job = 0; job < planes * tiles_b; job++) {
    const int64_t plane = job / tiles_b, j0 = (job % tiles_b) * TILE;
    const int64_t j1 = j0 + TILE < nb ? j0 + TILE : nb;
    // Output offset of the plane: its index over the output axes other than b and last, in output strides.
    int64_t out_base = 0, in_base = 0, rest = plane, ostride = na;
    for (int i = last - 1; i >= 0; i--) {
      if (i == b) {
        ostride *= l->shape[i];
        continue;
      }
      const int64_t idx = rest % l->shape[i];
      rest /= l->shape[i];
      out_base += idx * ostride;
      in_base += idx * l->stride[i];
      ostride *= l->shape[i];
    }
    for (int64_t i0 = 0; i0 < na; i0 += TILE) {
      const int64_t i1 = i0 + TILE < na ? i0 + TILE : na;
      for (int64_t j = j0; j < j1; j++) {
        uint32_t* o = out + out_base + j * ob;
        const uint32_t* in = x + in_base + j;
        for (int64_t i = i0; i < i1; i++) o[i] = in[i * sa];
      }
    }
  }
}

static bool arg_dims(napi_env env, napi_value v, const char* name, int64_t* dims, uint32_t* rank) {
  bool is_array = false;
  napi_is_array(env, v, &is_array);
  if (!is_array || napi_get_array_length(env, v, rank) != napi_ok || *rank > MAX_RANK) {
    throw_fmt(env, false, "transpose", "must be an array of at most 8 integers", name);
    return false;
  }
  for (uint32_t i = 0; i < *rank; i++) {
    napi_value e;
    napi_get_element(env, v, i, &e);
    if (!arg_int(env, "transpose", e, name, &dims[i])) return false;
  }
  return true;
}

static napi_value transpose(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!arg_count(env, info, "transpose(x, out, shape, perm) takes 4 arguments", 4, argv)) return NULL;
  void *x, *out;
  int64_t len_x, len_out, shape[MAX_RANK], perm[MAX_RANK];
  uint32_t rank, perm_rank;
  if (!arg_f32(env, "transpose", argv[0], "x", true, &x, &len_x) ||
      !arg_f32(env, "transpose", argv[1], "out", true, &out, &len_out) ||
      !arg_dims(env, argv[2], "shape", shape, &rank) || !arg_dims(env, argv[3], "perm", perm, &perm_rank)) {
    return NULL;
  }
  bool seen[MAX_RANK] = {false};
  bool valid = perm_rank == rank;
  for (uint32_t i = 0; valid && i < rank; i++) {
    valid = perm[i] < rank && !seen[perm[i]];
    if (valid) seen[perm[i]] = true;
  }
  if (!valid) {
    napi_throw_range_error(env, NULL, "transpose: perm must be a permutation of the axes of shape");
    return NULL;
  }
  int64_t total = 1;
  for (uint32_t i = 0; i < rank; i++) {
    if (shape[i] != 0 && total > INT64_MAX / 2 / shape[i]) {
      napi_throw_range_error(env, NULL, "transpose: shape too large");
      return NULL;
    }
    total *= shape[i];
  }
  if (!check_length(env, "transpose", "x", len_x, total) || !check_length(env, "transpose", "out", len_out, total)) {
    return NULL;
  }
  if (overlaps(out, total, x, total)) {
    napi_throw_error(env, NULL, "transpose: out must not overlap x");
    return NULL;
  }
  if (total == 0) return NULL;
  Layout l = plan_transpose((int)rank, shape, perm);
  transpose_run((const uint32_t*)x, (uint32_t*)out, &l, total);
  return NULL;
}

// -------------------------------------------------------------------------------------------------- elementwise ops

MULTIVERSION static void sigmoid_span(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + exp_poly(-x[i]));
}

MULTIVERSION static void silu_span(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + exp_poly(-x[i]));
}

MULTIVERSION static void tanh_span(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) y[i] = tanh_rational(x[i]);
}

MULTIVERSION static void gelu_tanh_span(const float* x, float* y, int64_t n) {
  const float k = 0.7978845608028654f;  // √(2/π)
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + tanh_rational(k * (v + 0.044715f * v * v * v)));
  }
}

typedef void (*Span)(const float*, float*, int64_t);
static const Span UNARY[] = {tanh_span, gelu_tanh_span, sigmoid_span, silu_span};
#define UNARY_OPS (int64_t)(sizeof UNARY / sizeof UNARY[0])

// Splits [0, n) into one contiguous chunk per thread (multiples of 64 elements, so chunks stay cache-line aligned).
static void parallel_spans(Span f, const float* x, float* y, int64_t n) {
#pragma omp parallel if (n >= PARALLEL_MIN)
  {
    const unsigned mode = flush_denormals();
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t chunk = ((n + threads - 1) / threads + 63) / 64 * 64;
    const int64_t start = t * chunk, end = start + chunk < n ? start + chunk : n;
    if (start < end) f(x + start, y + start, end - start);
    restore_float_mode(mode);
  }
}

static napi_value unary(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!arg_count(env, info, "unary(op, x, out) takes 3 arguments", 3, argv)) return NULL;
  int64_t op, len_x, len_out;
  void *x, *out;
  if (!arg_int(env, "unary", argv[0], "op", &op) || !arg_f32(env, "unary", argv[1], "x", false, &x, &len_x) ||
      !arg_f32(env, "unary", argv[2], "out", false, &out, &len_out)) {
    return NULL;
  }
  if (op >= UNARY_OPS) {
    napi_throw_range_error(env, NULL, "unary: unknown op");
    return NULL;
  }
  if (!check_length(env, "unary", "out", len_out, len_x)) return NULL;
  // In place (out == x) is fine; a partial overlap is not.
  if (out != x && overlaps(out, len_x, x, len_x)) {
    napi_throw_error(env, NULL, "unary: out must be x or not overlap it");
    return NULL;
  }
  parallel_spans(UNARY[op], (const float*)x, (float*)out, len_x);
  return NULL;
}

MULTIVERSION static void gelu_tanh_grad_span(const float* x, const float* dy, float* out, int64_t n) {
  const float k = 0.7978845608028654f;  // √(2/π)
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i], v2 = v * v;
    const float t = tanh_rational(k * v * (1.0f + 0.044715f * v2));
    out[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * v2));
  }
}

MULTIVERSION static void silu_grad_span(const float* x, const float* dy, float* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float s = 1.0f / (1.0f + exp_poly(-x[i]));
    out[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
  }
}

typedef void (*GradSpan)(const float*, const float*, float*, int64_t);
static const GradSpan UNARY_GRAD[] = {NULL, gelu_tanh_grad_span, NULL, silu_grad_span};

static napi_value unary_grad(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const char* fn = "unaryGrad";
  if (!arg_count(env, info, "unaryGrad(op, x, dy, out) takes 4 arguments", 4, argv)) return NULL;
  int64_t op, len_x, len_dy, len_out;
  void *x, *dy, *out;
  if (!arg_int(env, fn, argv[0], "op", &op) || !arg_f32(env, fn, argv[1], "x", false, &x, &len_x) ||
      !arg_f32(env, fn, argv[2], "dy", false, &dy, &len_dy) || !arg_f32(env, fn, argv[3], "out", false, &out, &len_out)) {
    return NULL;
  }
  if (op >= UNARY_OPS || !UNARY_GRAD[op]) {
    napi_throw_range_error(env, NULL, "unaryGrad: op has no gradient kernel (1: tanh-GELU, 3: SiLU)");
    return NULL;
  }
  if (!check_length(env, fn, "dy", len_dy, len_x) || !check_length(env, fn, "out", len_out, len_x)) return NULL;
  if ((out != dy && overlaps(out, len_x, dy, len_x)) || overlaps(out, len_x, x, len_x)) {
    napi_throw_error(env, NULL, "unaryGrad: out must be dy or overlap neither x nor dy");
    return NULL;
  }
  const GradSpan f = UNARY_GRAD[op];
  const int64_t n = len_x;
#pragma omp parallel if (n >= PARALLEL_MIN)
  {
    const unsigned mode = flush_denormals();
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t chunk = ((n + threads - 1) / threads + 63) / 64 * 64;
    const int64_t start = t * chunk, end = start + chunk < n ? start + chunk : n;
    if (start < end) f((const float*)x + start, (const float*)dy + start, (float*)out + start, end - start);
    restore_float_mode(mode);
  }
  return NULL;
}

// -------------------------------------------------------------------------------------------------------- layer norm

// Mean and 1/√(variance + eps) of one row (two passes, float64 sums, biased variance), for the forward and backward.
MULTIVERSION static void row_stats(const float* x, int64_t n, float eps, float* mean_out, float* rstd_out) {
  double sum = 0;
  for (int64_t i = 0; i < n; i++) sum += x[i];
  const float mean = (float)(sum / n);
  double sq = 0;
  for (int64_t i = 0; i < n; i++) {
    const float d = x[i] - mean;
    sq += (double)d * d;
  }
  *mean_out = mean;
  *rstd_out = 1.0f / sqrtf((float)(sq / n) + eps);
}

MULTIVERSION static void layer_norm_row(const float* x, float* y, int64_t n, float eps, const float* gamma,
                                        const float* beta) {
  float mean, rstd;
  row_stats(x, n, eps, &mean, &rstd);
  if (gamma && beta) {
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
  } else if (gamma) {
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * gamma[i];
  } else if (beta) {
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd + beta[i];
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd;
  }
}

static bool arg_optional_f32(napi_env env, const char* fn, napi_value v, const char* name, float** data,
                             int64_t cols) {
  napi_valuetype type;
  napi_typeof(env, v, &type);
  if (type == napi_null || type == napi_undefined) {
    *data = NULL;
    return true;
  }
  int64_t len;
  return arg_f32(env, fn, v, name, false, (void**)data, &len) && check_length(env, fn, name, len, cols);
}

static napi_value layer_norm(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  if (!arg_count(env, info, "layerNorm(x, out, rows, cols, eps, gamma, beta) takes 7 arguments", 7, argv)) return NULL;
  void *x, *out;
  float *gamma, *beta;
  int64_t len_x, len_out, rows, cols;
  double eps;
  if (!arg_f32(env, "layerNorm", argv[0], "x", false, &x, &len_x) ||
      !arg_f32(env, "layerNorm", argv[1], "out", false, &out, &len_out) ||
      !arg_int(env, "layerNorm", argv[2], "rows", &rows) || !arg_int(env, "layerNorm", argv[3], "cols", &cols) ||
      !arg_number(env, "layerNorm", argv[4], "eps", &eps) ||
      !arg_optional_f32(env, "layerNorm", argv[5], "gamma", &gamma, cols) ||
      !arg_optional_f32(env, "layerNorm", argv[6], "beta", &beta, cols)) {
    return NULL;
  }
  const int64_t total = rows * cols;
  if (!check_length(env, "layerNorm", "x", len_x, total) || !check_length(env, "layerNorm", "out", len_out, total)) {
    return NULL;
  }
  if (out != x && overlaps(out, total, x, total)) {
    napi_throw_error(env, NULL, "layerNorm: out must be x or not overlap it");
    return NULL;
  }
  if (cols == 0) return NULL;
  const float* xs = (const float*)x;
  float* ys = (float*)out;
#pragma omp parallel for schedule(static) if (total >= PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) layer_norm_row(xs + r * cols, ys + r * cols, cols, (float)eps, gamma, beta);
  return NULL;
}


// One row of the layer-norm backward: dx, and dy·x̂ and dy added to the row's partial dgamma and dbeta.
MULTIVERSION static void layer_norm_backward_row(const float* x, const float* dy, float* dx, int64_t n, float eps,
                                                 const float* gamma, double* restrict dgamma, double* restrict dbeta) {
  float mean, rstd;
  row_stats(x, n, eps, &mean, &rstd);
  double a = 0, b = 0;  // Σ g and Σ g·x̂, with g = dy·gamma
  for (int64_t i = 0; i < n; i++) {
    const float xhat = (x[i] - mean) * rstd;
    const float g = gamma ? dy[i] * gamma[i] : dy[i];
    a += g;
    b += (double)g * xhat;
    dgamma[i] += (double)dy[i] * xhat;
    dbeta[i] += dy[i];
  }
  const float ma = (float)(a / n), mb = (float)(b / n);
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float xhat = (x[i] - mean) * rstd;
    const float g = gamma ? dy[i] * gamma[i] : dy[i];
    dx[i] = rstd * (g - ma - xhat * mb);
  }
}

static napi_value layer_norm_backward(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  const char* fn = "layerNormBackward";
  if (!arg_count(env, info, "layerNormBackward(x, dy, gamma, dx, dgamma, dbeta, rows, cols, eps) takes 9 arguments", 9,
                 argv)) {
    return NULL;
  }
  void *x, *dy, *dx, *dgamma, *dbeta;
  float* gamma;
  int64_t len_x, len_dy, len_dx, len_dg, len_db, rows, cols;
  double eps;
  if (!arg_f32(env, fn, argv[0], "x", false, &x, &len_x) || !arg_f32(env, fn, argv[1], "dy", false, &dy, &len_dy) ||
      !arg_int(env, fn, argv[6], "rows", &rows) || !arg_int(env, fn, argv[7], "cols", &cols) ||
      !arg_optional_f32(env, fn, argv[2], "gamma", &gamma, cols) ||
      !arg_f32(env, fn, argv[3], "dx", false, &dx, &len_dx) ||
      !arg_f32(env, fn, argv[4], "dgamma", false, &dgamma, &len_dg) ||
      !arg_f32(env, fn, argv[5], "dbeta", false, &dbeta, &len_db) || !arg_number(env, fn, argv[8], "eps", &eps)) {
    return NULL;
  }
  const int64_t total = rows * cols;
  if (!check_length(env, fn, "x", len_x, total) || !check_length(env, fn, "dy", len_dy, total) ||
      !check_length(env, fn, "dx", len_dx, total) || !check_length(env, fn, "dgamma", len_dg, cols) ||
      !check_length(env, fn, "dbeta", len_db, cols)) {
    return NULL;
  }
  if (overlaps(dx, total, x, total) || overlaps(dx, total, dy, total)) {
    napi_throw_error(env, NULL, "layerNormBackward: dx must not overlap x or dy");
    return NULL;
  }
  if (cols == 0) return NULL;
  const int threads = total >= PARALLEL_MIN ? omp_get_max_threads() : 1;
  double* partial = calloc((size_t)threads * 2 * cols, sizeof(double));
  if (!partial) {
    napi_throw_error(env, NULL, "layerNormBackward: out of memory");
    return NULL;
  }
#pragma omp parallel num_threads(threads)
  {
    double* pg = partial + 2 * cols * omp_get_thread_num();
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      layer_norm_backward_row((const float*)x + r * cols, (const float*)dy + r * cols, (float*)dx + r * cols, cols,
                              (float)eps, gamma, pg, pg + cols);
    }
  }
  for (int64_t c = 0; c < cols; c++) {
    double g = 0, b = 0;
    for (int t = 0; t < threads; t++) {
      g += partial[2 * cols * t + c];
      b += partial[2 * cols * t + cols + c];
    }
    ((float*)dgamma)[c] = (float)g;
    ((float*)dbeta)[c] = (float)b;
  }
  free(partial);
  return NULL;
}


// ------------------------------------------------------------------------------------------------------- group norm

// With d = x[c] − shift[c]: s1[c] += d and s2[c] += d² over the rows [r0, r1) of a [rows, C] block.
MULTIVERSION static void channel_sums(const float* x, int64_t r0, int64_t r1, int64_t C, const float* shift,
                                      double* restrict s1, double* restrict s2) {
  for (int64_t r = r0; r < r1; r++) {
    const float* row = x + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
      const double d = row[c] - shift[c];
      s1[c] += d;
      s2[c] += d * d;
    }
  }
}

MULTIVERSION static void scale_shift_rows(const float* x, float* y, int64_t rows, int64_t C, const float* a,
                                          const float* b, int silu) {
  for (int64_t r = 0; r < rows; r++) {
    if (silu) {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) {
        const float z = x[r * C + c] * a[c] + b[c];
        y[r * C + c] = z / (1.0f + exp_poly(-z));
      }
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) y[r * C + c] = x[r * C + c] * a[c] + b[c];
    }
  }
}

// Per-channel shifted sums and squares of one [S, C] image over all threads, into sums[0 … C) and sums[C … 2C).
static void image_channel_sums(const float* x, int64_t S, int64_t C, const float* shift, double* sums, double* partial,
                               int threads) {
  memset(partial, 0, sizeof(double) * 2 * C * threads);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    const int64_t chunk = (S + n - 1) / n, r0 = t * chunk, r1 = r0 + chunk < S ? r0 + chunk : S;
    if (r0 < r1) channel_sums(x, r0, r1, C, shift, partial + 2 * t * C, partial + (2 * t + 1) * C);
  }
  for (int64_t c = 0; c < 2 * C; c++) sums[c] = 0;
  for (int t = 0; t < threads; t++) {
    for (int64_t c = 0; c < C; c++) {
      sums[c] += partial[2 * t * C + c];
      sums[C + c] += partial[(2 * t + 1) * C + c];
    }
  }
}

static napi_value group_norm(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  const char* fn = "groupNorm";
  if (!arg_count(env, info,
                 "groupNorm(x, out, batch, spatial, channels, groups, eps, gamma, beta, silu) takes 10 arguments", 10,
                 argv)) {
    return NULL;
  }
  void *x, *out;
  float *gamma, *beta;
  int64_t len_x, len_out, B, S, C, G;
  double eps;
  bool silu;
  if (!arg_f32(env, fn, argv[0], "x", false, &x, &len_x) || !arg_f32(env, fn, argv[1], "out", false, &out, &len_out) ||
      !arg_int(env, fn, argv[2], "batch", &B) || !arg_int(env, fn, argv[3], "spatial", &S) ||
      !arg_int(env, fn, argv[4], "channels", &C) || !arg_int(env, fn, argv[5], "groups", &G) ||
      !arg_number(env, fn, argv[6], "eps", &eps) || !arg_optional_f32(env, fn, argv[7], "gamma", &gamma, C) ||
      !arg_optional_f32(env, fn, argv[8], "beta", &beta, C) || !arg_bool(env, fn, argv[9], "silu", &silu)) {
    return NULL;
  }
  if (G == 0 || C % G != 0) {
    napi_throw_range_error(env, NULL, "groupNorm: channels must be a positive multiple of groups");
    return NULL;
  }
  const int64_t total = B * S * C;
  if (!check_length(env, fn, "x", len_x, total) || !check_length(env, fn, "out", len_out, total)) return NULL;
  if (out != x && overlaps(out, total, x, total)) {
    napi_throw_error(env, NULL, "groupNorm: out must be x or not overlap it");
    return NULL;
  }
  if (total == 0) return NULL;
  const int threads = S * C >= PARALLEL_MIN ? omp_get_max_threads() : 1;
  double* partial = malloc(sizeof(double) * 2 * C * (threads + 1));
  float* coef = malloc(sizeof(float) * C * 3);  // per-channel shift, then scale a and offset b
  if (!partial || !coef) {
    free(partial);
    free(coef);
    napi_throw_error(env, NULL, "groupNorm: out of memory");
    return NULL;
  }
  double* sums = partial + 2 * C * threads;
  float *shift = coef, *a = coef + C, *b = coef + 2 * C;
  const int64_t Cg = C / G;
  const double count = (double)S * Cg;
  for (int64_t n = 0; n < B; n++) {
    const float* xn = (const float*)x + n * S * C;
    float* yn = (float*)out + n * S * C;
    // One pass of sums shifted by each channel's first value: with d = x − K_c, the group's centred sum of squares is
    // Σ_c [Σd² + 2(K_c − μ)·Σd + S·(K_c − μ)²], all terms near the data's own scale, so nothing large cancels (the
    // same accuracy as PyTorch's two-pass variance, in double).
    for (int64_t c = 0; c < C; c++) shift[c] = xn[c];
    image_channel_sums(xn, S, C, shift, sums, partial, threads);
    for (int64_t g = 0; g < G; g++) {
      double total = 0;
      for (int64_t c = g * Cg; c < (g + 1) * Cg; c++) total += sums[c] + (double)S * shift[c];
      const double mean = total / count;
      double centred = 0;
      for (int64_t c = g * Cg; c < (g + 1) * Cg; c++) {
        const double k = shift[c] - mean;
        centred += sums[C + c] + 2 * k * sums[c] + (double)S * k * k;
      }
      const float rstd = 1.0f / sqrtf((float)(centred / count) + (float)eps);
      for (int64_t c = g * Cg; c < (g + 1) * Cg; c++) {
        const float scale = rstd * (gamma ? gamma[c] : 1.0f);
        a[c] = scale;
        b[c] = (beta ? beta[c] : 0.0f) - (float)mean * scale;
      }
    }
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t r0 = 0; r0 < S; r0 += 256) {
      const int64_t rows = r0 + 256 < S ? 256 : S - r0;
      const unsigned mode = flush_denormals();
      scale_shift_rows(xn + r0 * C, yn + r0 * C, rows, C, a, b, silu);
      restore_float_mode(mode);
    }
  }
  free(partial);
  free(coef);
  return NULL;
}

// ------------------------------------------------------------------------------------------------------- reductions

// acc[i] += Σ_{r < rows} x[r·inner + i], in double.
MULTIVERSION static void add_rows(const float* x, int64_t rows, int64_t inner, double* restrict acc) {
  for (int64_t r = 0; r < rows; r++) {
    const float* row = x + r * inner;
#pragma omp simd
    for (int64_t i = 0; i < inner; i++) acc[i] += row[i];
  }
}

// Σ x[0 … n), in double.
MULTIVERSION static double sum_span(const float* x, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; i++) s += x[i];
  return s;
}

// Each output is a sum of `reduce` values `inner` apart. With enough outer blocks each thread takes whole blocks;
// otherwise (a bias gradient: one block of thousands of rows) the rows of each block are split over the threads and
// their partial sums added.
static bool reduce_sum_run(const float* x, float* out, int64_t outer, int64_t reduce, int64_t inner, double scale) {
  const int64_t total = outer * reduce * inner;
  const int threads = total >= PARALLEL_MIN ? omp_get_max_threads() : 1;
  if (inner == 1 && outer >= threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t o = 0; o < outer; o++) out[o] = (float)(sum_span(x + o * reduce, reduce) * scale);
    return true;
  }
  if (outer >= threads) {
    bool ok = true;
#pragma omp parallel num_threads(threads) reduction(&& : ok)
    {
      double* acc = malloc(sizeof(double) * inner);
      if (!acc) ok = false;
#pragma omp for schedule(static)
      for (int64_t o = 0; o < outer; o++) {
        if (!acc) continue;
        memset(acc, 0, sizeof(double) * inner);
        add_rows(x + o * reduce * inner, reduce, inner, acc);
        for (int64_t i = 0; i < inner; i++) out[o * inner + i] = (float)(acc[i] * scale);
      }
      free(acc);
    }
    return ok;
  }
  double* partial = calloc((size_t)threads * inner, sizeof(double));
  if (!partial) return false;
  for (int64_t o = 0; o < outer; o++) {
    const float* xo = x + o * reduce * inner;
    memset(partial, 0, sizeof(double) * threads * inner);
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), n = omp_get_num_threads();
      const int64_t chunk = (reduce + n - 1) / n, r0 = t * chunk, r1 = r0 + chunk < reduce ? r0 + chunk : reduce;
      if (r0 < r1) add_rows(xo + r0 * inner, r1 - r0, inner, partial + t * inner);
    }
    for (int64_t i = 0; i < inner; i++) {
      double s = 0;
      for (int t = 0; t < threads; t++) s += partial[t * inner + i];
      out[o * inner + i] = (float)(s * scale);
    }
  }
  free(partial);
  return true;
}

static napi_value reduce_sum(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  const char* fn = "reduceSum";
  if (!arg_count(env, info, "reduceSum(x, out, outer, reduce, inner, scale) takes 6 arguments", 6, argv)) return NULL;
  void *x, *out;
  int64_t len_x, len_out, outer, reduce, inner;
  double scale;
  if (!arg_f32(env, fn, argv[0], "x", false, &x, &len_x) || !arg_f32(env, fn, argv[1], "out", false, &out, &len_out) ||
      !arg_int(env, fn, argv[2], "outer", &outer) || !arg_int(env, fn, argv[3], "reduce", &reduce) ||
      !arg_int(env, fn, argv[4], "inner", &inner) || !arg_number(env, fn, argv[5], "scale", &scale)) {
    return NULL;
  }
  if (!check_length(env, fn, "x", len_x, outer * reduce * inner) || !check_length(env, fn, "out", len_out, outer * inner)) {
    return NULL;
  }
  if (overlaps(out, outer * inner, x, outer * reduce * inner)) {
    napi_throw_error(env, NULL, "reduceSum: out must not overlap x");
    return NULL;
  }
  if (outer * inner == 0) return NULL;
  if (!reduce_sum_run((const float*)x, (float*)out, outer, reduce, inner, scale)) {
    napi_throw_error(env, NULL, "reduceSum: out of memory");
  }
  return NULL;
}

void register_ops(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"transpose", NULL, transpose, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unary", NULL, unary, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unaryGrad", NULL, unary_grad, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layerNormBackward", NULL, layer_norm_backward, NULL, NULL, NULL, napi_enumerable, NULL},
      {"layerNorm", NULL, layer_norm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"groupNorm", NULL, group_norm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"reduceSum", NULL, reduce_sum, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
