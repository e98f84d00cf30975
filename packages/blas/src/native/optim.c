// The Adam/AdamW parameter update in one pass (torch.optim.Adam/AdamW, as @svg/train's composite computes it):
//
// adamUpdate(w, g, m, v, wOut, mOut, vOut, c)   c: Float32Array of the step's constants
//   [decay, l2, lerpWeight, lerpComplement, lerpLow, beta2, oneMinusBeta2, biasCorrection2Sqrt, eps, negStepSize]
//   w' = w·decay (AdamW's decoupled decay; decay = 1: none)     grad = g + l2·w' (Adam's L2 term; l2 = 0: none)
//   m' = lerp(m, grad, lerpWeight)   (PyTorch's lerp: m + (grad − m)·w when lerpLow, else grad − (grad − m)·(1 − w))
//   v' = v·beta2 + (grad·(1 − beta2))·grad      w'' = w' + (m'·(−stepSize)) / (√v' / biasCorrection2Sqrt + eps)
//
// Every operation is one float32 operation in the composite's order, and contraction into FMAs is off, so the
// result is bit for bit the tfjs composite's (which rounds each op to float32) — a resumed run stays exact.
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#include <node_api.h>
#include <stdint.h>

#include "napi_args.h"

#define PARALLEL_MIN 32768

static void adam_update_run(const float* w, const float* g, const float* m, const float* v, float* wo, float* mo,
                            float* vo, int64_t n, const float* c) {
  const float decay = c[0], l2 = c[1], lw = c[2], lc = c[3], beta2 = c[5], omb2 = c[6], bc2 = c[7], eps = c[8],
              neg_step = c[9];
  const int low = c[4] != 0.0f, decayed = decay != 1.0f, with_l2 = l2 != 0.0f;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) {
    float wi = decayed ? w[i] * decay : w[i];
    float grad = with_l2 ? g[i] + wi * l2 : g[i];
    float diff = grad - m[i];
    float mi = low ? m[i] + diff * lw : grad - diff * lc;
    float vi = v[i] * beta2 + (grad * omb2) * grad;
    float denom = sqrtf(vi) / bc2 + eps;
    wo[i] = wi + (mi * neg_step) / denom;
    mo[i] = mi;
    vo[i] = vi;
  }
}

static napi_value adam_update(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  const char* fn = "adamUpdate";
  if (!arg_count(env, info, "adamUpdate(w, g, m, v, wOut, mOut, vOut, constants) takes 8 arguments", 8, argv)) return NULL;
  const char* names[8] = {"w", "g", "m", "v", "wOut", "mOut", "vOut", "constants"};
  void* p[8];
  int64_t len[8];
  for (int i = 0; i < 8; i++) {
    if (!arg_f32(env, fn, argv[i], names[i], false, &p[i], &len[i])) return NULL;
  }
  for (int i = 1; i < 7; i++) {
    if (len[i] != len[0]) {
      throw_fmt(env, true, fn, "must have as many elements as w", names[i]);
      return NULL;
    }
  }
  if (len[7] != 10) {
    throw_fmt(env, true, fn, "must hold the 10 constants", names[7]);
    return NULL;
  }
  adam_update_run(p[0], p[1], p[2], p[3], p[4], p[5], p[6], len[0], p[7]);
  return NULL;
}

void register_optim(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {{"adamUpdate", NULL, adam_update, NULL, NULL, NULL, napi_enumerable, NULL}};
  napi_define_properties(env, exports, 1, props);
}
