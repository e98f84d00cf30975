// Argument helpers shared by the addon's functions: each throws a JavaScript error naming the function and argument
// and returns false when the argument is not what the function needs.
#pragma once
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

static inline void throw_fmt(napi_env env, bool range, const char* fn, const char* what, const char* name) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s %s", fn, name, what);
  if (range) napi_throw_range_error(env, NULL, msg);
  else napi_throw_type_error(env, NULL, msg);
}

// A Float32Array, or (when allow_int32) an Int32Array: 4-byte elements moved bit for bit.
static inline bool arg_f32(napi_env env, const char* fn, napi_value v, const char* name, bool allow_int32, void** data,
                           int64_t* length) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  napi_typedarray_type type;
  size_t len = 0;
  void* ptr = NULL;
  if (!is_typed || napi_get_typedarray_info(env, v, &type, &len, &ptr, NULL, NULL) != napi_ok ||
      !(type == napi_float32_array || (allow_int32 && type == napi_int32_array))) {
    throw_fmt(env, false, fn, allow_int32 ? "must be a Float32Array or Int32Array" : "must be a Float32Array", name);
    return false;
  }
  *data = ptr;
  *length = (int64_t)len;
  return true;
}

static inline bool arg_int(napi_env env, const char* fn, napi_value v, const char* name, int64_t* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    throw_fmt(env, false, fn, "must be a number", name);
    return false;
  }
  if (!(d >= 0 && d <= 2147483647.0) || d != (double)(int64_t)d) {
    throw_fmt(env, true, fn, "must be an integer in [0, 2^31)", name);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

static inline bool arg_number(napi_env env, const char* fn, napi_value v, const char* name, double* out) {
  if (napi_get_value_double(env, v, out) != napi_ok) {
    throw_fmt(env, false, fn, "must be a number", name);
    return false;
  }
  return true;
}

static inline bool arg_bool(napi_env env, const char* fn, napi_value v, const char* name, bool* out) {
  if (napi_get_value_bool(env, v, out) != napi_ok) {
    throw_fmt(env, false, fn, "must be a boolean", name);
    return false;
  }
  return true;
}

static inline bool check_length(napi_env env, const char* fn, const char* name, int64_t have, int64_t need) {
  if (have >= need) return true;
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s has %lld elements, the shapes need %lld", fn, name, (long long)have,
           (long long)need);
  napi_throw_range_error(env, NULL, msg);
  return false;
}

static inline bool overlaps(const void* p, int64_t np, const void* q, int64_t nq) {
  const float* a = (const float*)p;
  const float* b = (const float*)q;
  return np > 0 && nq > 0 && a < b + nq && b < a + np;
}

static inline bool arg_count(napi_env env, napi_callback_info info, const char* usage, size_t expected, napi_value* argv) {
  size_t argc = expected;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != expected) {
    napi_throw_type_error(env, NULL, usage);
    return false;
  }
  return true;
}
