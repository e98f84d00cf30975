// Branch-free float math that vectorises inside `#pragma omp simd` loops, and the multiversioning attribute that
// compiles a function for AVX2+FMA as well as baseline x86-64 (the CPU picks at load time).
#pragma once
#include <math.h>
#include <stdint.h>

// Denormal floats cost ~100 cycles per operation on x86. Vectorised code computes both sides of a clamp and blends
// (e.g. x·e^-87 in lanes that are then discarded), so kernels flush denormals to zero while they run, as ML libraries
// do, and restore the caller's mode (JavaScript needs IEEE denormals) afterwards.
#if defined(__SSE2__)
#include <xmmintrin.h>
static inline unsigned flush_denormals(void) {
  const unsigned old = _mm_getcsr();
  _mm_setcsr(old | 0x8040);  // FTZ | DAZ
  return old;
}
static inline void restore_float_mode(unsigned old) { _mm_setcsr(old); }
#else
static inline unsigned flush_denormals(void) { return 0; }
static inline void restore_float_mode(unsigned old) { (void)old; }
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MULTIVERSION __attribute__((target_clones("arch=haswell", "default")))
#else
#define MULTIVERSION
#endif

// tanh as a rational function (odd degree-13 numerator, even degree-6 denominator) on [-9, 9], where float32 tanh
// reaches ±1; max error ≈ 2 ulp. Branch-free, so the loops using it vectorise.
__attribute__((always_inline)) static inline float tanh_rational(float x) {
  const float c = x > 9.0f ? 9.0f : (x < -9.0f ? -9.0f : x);
  const float x2 = c * c;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 - 8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  const float t = c * p / q;
  return fabsf(x) < 4e-4f ? x : t;  // tanh(x) = x to float precision there
}

// e^x for x in [-87, 88] (clamped there), ≈ 1 ulp: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-6 Taylor
// polynomial, 2^n through the exponent bits. Branch-free, so loops using it vectorise.
__attribute__((always_inline)) static inline float exp_poly(float x) {
  const float c = x > 88.0f ? 88.0f : (x < -87.0f ? -87.0f : x);
  const float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest via 1.5·2^23
  const float r = (c - n * 0.693145751953125f) - n * 1.428606765330187e-06f;  // ln2 split in two for exactness
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  union {
    int32_t i;
    float f;
  } scale = {.i = ((int32_t)n + 127) << 23};
  return p * scale.f;
}
