// N-API binding over the system's MPI library (Open MPI or MPICH): initialisation, the world's size and ranks, and
// the three collectives data-parallel training needs — in-place sum all-reduce, broadcast, barrier. Collectives run
// on libuv's thread pool and resolve a promise, so JavaScript can put a timeout on them (a dead peer otherwise blocks
// the process for ever); the JavaScript side issues one collective at a time (MPI_THREAD_SERIALIZED is enough).
#include <dlfcn.h>
#include <mpi.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "svg_mpi: N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static bool initialized = false;
static int world_rank = 0, world_size = 1, local_rank = 0, local_size = 1;

static void throw_mpi(napi_env env, const char* what, int code) {
  char err[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, err, &len);
  char msg[MPI_MAX_ERROR_STRING + 128];
  snprintf(msg, sizeof msg, "MPI %s failed: %.*s", what, len, err);
  napi_throw_error(env, NULL, msg);
}

static napi_value set_int(napi_env env, napi_value obj, const char* key, int value) {
  napi_value v;
  if (napi_create_int32(env, value, &v) != napi_ok || napi_set_named_property(env, obj, key, v) != napi_ok) return NULL;
  return obj;
}

// init() → { rank, size, localRank, localSize, threadLevel, library }. Idempotent.
static napi_value init(napi_env env, napi_callback_info info) {
  (void)info;
  if (!initialized) {
    // Open MPI loads its transports as plugins that resolve symbols of libmpi; Node loads this addon (and so libmpi)
    // with RTLD_LOCAL, which hides them. Promote the already loaded library to global scope first.
    const char* names[] = {"libmpi.so.40", "libmpi.so.12", "libmpi.so"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
      if (dlopen(names[i], RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) break;
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) {
      throw_mpi(env, "MPI_Init_thread", rc);
      return NULL;
    }
    if (provided < MPI_THREAD_SERIALIZED) {
      napi_throw_error(env, NULL, "this MPI library does not support MPI_THREAD_SERIALIZED (collectives run off the main thread)");
      return NULL;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_size(node, &local_size);
    MPI_Comm_free(&node);
    initialized = true;
  }
  napi_value out;
  CHECK(napi_create_object(env, &out));
  int level = 0;
  MPI_Query_thread(&level);
  char library[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(library, &len);
  char* newline = memchr(library, '\n', (size_t)len);
  len = (int)strnlen(library, (size_t)len);
  if (newline) len = (int)(newline - library);
  napi_value lib;
  CHECK(napi_create_string_utf8(env, library, (size_t)len, &lib));
  CHECK(napi_set_named_property(env, out, "library", lib));
  if (!set_int(env, out, "rank", world_rank) || !set_int(env, out, "size", world_size) ||
      !set_int(env, out, "localRank", local_rank) || !set_int(env, out, "localSize", local_size) ||
      !set_int(env, out, "threadLevel", level))
    return NULL;
  return out;
}

enum op { OP_ALLREDUCE_F32, OP_ALLREDUCE_F64, OP_BCAST, OP_BARRIER };

typedef struct {
  enum op op;
  void* data;
  int count;
  int root;
  int rc;
  napi_ref keep;
  napi_deferred deferred;
  napi_async_work work;
} job;

static const char* op_name(enum op op) {
  switch (op) {
    case OP_ALLREDUCE_F32:
    case OP_ALLREDUCE_F64: return "MPI_Allreduce";
    case OP_BCAST: return "MPI_Bcast";
    default: return "MPI_Barrier";
  }
}

static void execute(napi_env env, void* p) {
  (void)env;
  job* j = p;
  switch (j->op) {
    case OP_ALLREDUCE_F32: j->rc = MPI_Allreduce(MPI_IN_PLACE, j->data, j->count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); break;
    case OP_ALLREDUCE_F64: j->rc = MPI_Allreduce(MPI_IN_PLACE, j->data, j->count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); break;
    case OP_BCAST: j->rc = MPI_Bcast(j->data, j->count, MPI_BYTE, j->root, MPI_COMM_WORLD); break;
    case OP_BARRIER: j->rc = MPI_Barrier(MPI_COMM_WORLD); break;
  }
}

static void complete(napi_env env, napi_status status, void* p) {
  job* j = p;
  napi_value result;
  if (status == napi_ok && j->rc == MPI_SUCCESS) {
    napi_get_undefined(env, &result);
    napi_resolve_deferred(env, j->deferred, result);
  } else {
    char err[MPI_MAX_ERROR_STRING] = "cancelled";
    int len = (int)strlen(err);
    if (j->rc != MPI_SUCCESS) MPI_Error_string(j->rc, err, &len);
    char msg[MPI_MAX_ERROR_STRING + 64];
    snprintf(msg, sizeof msg, "%s failed: %.*s", op_name(j->op), len, err);
    napi_value text;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
    napi_create_error(env, NULL, text, &result);
    napi_reject_deferred(env, j->deferred, result);
  }
  if (j->keep) napi_delete_reference(env, j->keep);
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value start(napi_env env, job* j, napi_value keep) {
  napi_value promise, name;
  if (keep) CHECK(napi_create_reference(env, keep, 1, &j->keep));
  CHECK(napi_create_promise(env, &j->deferred, &promise));
  CHECK(napi_create_string_utf8(env, op_name(j->op), NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, execute, complete, j, &j->work));
  CHECK(napi_queue_async_work(env, j->work));
  return promise;
}

static bool need_init(napi_env env, const char* fn) {
  if (initialized) return true;
  char msg[96];
  snprintf(msg, sizeof msg, "%s: call init() first", fn);
  napi_throw_error(env, NULL, msg);
  return false;
}

// The typed array `v` (its type, element count and data); false when `v` is not a typed array.
static bool typed_array(napi_env env, napi_value v, napi_typedarray_type* type, size_t* length, void** data) {
  bool typed = false;
  return napi_is_typedarray(env, v, &typed) == napi_ok && typed &&
         napi_get_typedarray_info(env, v, type, length, data, NULL, NULL) == napi_ok;
}

// allReduceSum(array): sums a Float32Array or Float64Array over all ranks, in place. Returns a promise.
static napi_value all_reduce_sum(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!need_init(env, "allReduceSum")) return NULL;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = NULL;
  if (argc < 1 || !typed_array(env, argv[0], &type, &length, &data) || (type != napi_float32_array && type != napi_float64_array)) {
    napi_throw_type_error(env, NULL, "allReduceSum: the argument must be a Float32Array or Float64Array");
    return NULL;
  }
  if (length > 2147483647u) {
    napi_throw_range_error(env, NULL, "allReduceSum: at most 2^31 - 1 elements per call");
    return NULL;
  }
  job* j = calloc(1, sizeof *j);
  j->op = type == napi_float32_array ? OP_ALLREDUCE_F32 : OP_ALLREDUCE_F64;
  j->data = data;
  j->count = (int)length;
  return start(env, j, argv[0]);
}

// broadcast(bytes, root): copies root's Uint8Array into every rank's (same length everywhere). Returns a promise.
static napi_value broadcast(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!need_init(env, "broadcast")) return NULL;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = NULL;
  int32_t root = 0;
  if (argc < 2 || !typed_array(env, argv[0], &type, &length, &data) || type != napi_uint8_array ||
      napi_get_value_int32(env, argv[1], &root) != napi_ok) {
    napi_throw_type_error(env, NULL, "broadcast: expected (Uint8Array, root rank)");
    return NULL;
  }
  if (root < 0 || root >= world_size || length > 2147483647u) {
    napi_throw_range_error(env, NULL, "broadcast: root out of range or more than 2^31 - 1 bytes");
    return NULL;
  }
  job* j = calloc(1, sizeof *j);
  j->op = OP_BCAST;
  j->data = data;
  j->count = (int)length;
  j->root = root;
  return start(env, j, argv[0]);
}

static napi_value barrier(napi_env env, napi_callback_info info) {
  (void)info;
  if (!need_init(env, "barrier")) return NULL;
  job* j = calloc(1, sizeof *j);
  j->op = OP_BARRIER;
  return start(env, j, NULL);
}

// abort(code): ends every rank of the job (MPI_Abort); used when a collective timed out and cannot be cancelled.
static napi_value abort_all(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t code = 1;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc >= 1) napi_get_value_int32(env, argv[0], &code);
  fflush(stdout);
  fflush(stderr);
  if (initialized) MPI_Abort(MPI_COMM_WORLD, code);
  _exit(code);
}

static napi_value finalize(napi_env env, napi_callback_info info) {
  (void)info;
  int done = 0;
  MPI_Finalized(&done);
  if (initialized && !done) {
    int rc = MPI_Finalize();
    if (rc != MPI_SUCCESS) throw_mpi(env, "MPI_Finalize", rc);
  }
  return NULL;
}

static napi_value module_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", NULL, init, NULL, NULL, NULL, napi_default, NULL},
      {"allReduceSum", NULL, all_reduce_sum, NULL, NULL, NULL, napi_default, NULL},
      {"broadcast", NULL, broadcast, NULL, NULL, NULL, napi_default, NULL},
      {"barrier", NULL, barrier, NULL, NULL, NULL, napi_default, NULL},
      {"abort", NULL, abort_all, NULL, NULL, NULL, napi_default, NULL},
      {"finalize", NULL, finalize, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof *props, props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
