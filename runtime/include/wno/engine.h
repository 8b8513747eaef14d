/* C ABI of the wno-edge native engine: runs an ONNX graph (float32) on the CPU, with neither
 * Python, ONNX Runtime nor protobuf: a WNO or FNO exported by `wno-edge export` on its fused
 * pipeline, any other graph of the supported ops on reference kernels (docs/native-engine.md).
 *
 *   wno_engine_options o;  wno_engine_default_options(&o);  o.num_threads = 2;
 *   wno_engine* e;  char err[256];
 *   if (wno_engine_open("model.onnx", &o, &e, err, sizeof err) != WNO_SUCCESS) puts(err);
 *   wno_engine_run(e, x, y);          x: (N, C_in, H, W), y: (N, C_out, H, W), float32 NCHW
 *   wno_engine_close(e);
 *
 * Loading reads the file once, verifies the weight checksum the exporter stored, reads the
 * graph and infers every shape from it (the metadata is informative only), covers the graph
 * with fusion patterns (wno_engine_plan says how) and allocates one arena; wno_engine_run
 * allocates nothing. A file with an op outside the supported set, a newer format version, a
 * tensor over the memory cap, non-finite weights, or truncated or corrupt bytes gets an error
 * status and a one-line message, never a crash.
 * One engine runs one call at a time: concurrent wno_engine_run calls on the same engine are
 * serialised. Separate engines are independent.
 * Statuses: WNO_ERROR_INVALID_ARGUMENT (bad file or argument), WNO_ERROR_UNSUPPORTED (newer
 * format version, float16 export), WNO_ERROR_OUT_OF_MEMORY.
 * Ownership, threading, errors, versions and what may change: docs/c-api.md. */
#ifndef WNO_ENGINE_H
#define WNO_ENGINE_H

#include <stddef.h>

#include "winograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped by any incompatible change; libwno_engine.so.<this> (its SONAME) follows it. */
#define WNO_ENGINE_ABI_VERSION 2

typedef struct wno_engine wno_engine;

typedef struct wno_engine_options {
  int batch;       /* 0: the file's fixed batch, or 1 if it is dynamic */
  int num_threads; /* <= 0: $WNO_NUM_THREADS, else the hardware threads */
  int pin_threads; /* 1: pin helper thread i (1..num_threads-1) to CPU first_cpu + i; the
                      calling thread is worker 0 and the application's to pin (to first_cpu) */
  int first_cpu;
  int profile;         /* 1: record per-stage times (wno_engine_stage_*) */
  int verify_checksum; /* 1 (default): refuse a file whose weights differ from its checksum */
  int max_memory_mb;   /* cap on any tensor and on the arena (default 2048); 0: the default */
} wno_engine_options;

WNO_API int wno_engine_abi_version(void);
WNO_API void wno_engine_default_options(wno_engine_options* options);

/* Open from a file or from bytes in memory (copied what it needs; data may be freed after).
 * On failure *engine is NULL and error (if not NULL) holds a one-line message. */
WNO_API wno_status wno_engine_open(const char* path, const wno_engine_options* options,
                                   wno_engine** engine, char* error, size_t error_size);
WNO_API wno_status wno_engine_open_memory(const void* data, size_t size,
                                          const wno_engine_options* options, wno_engine** engine,
                                          char* error, size_t error_size);
WNO_API void wno_engine_close(wno_engine* engine);

/* input: N*C_in*H*W floats, output: N*C_out*H*W floats (NCHW, not overlapping). */
WNO_API wno_status wno_engine_run(wno_engine* engine, const float* input, float* output);

/* dims[4] = (N, C, H, W) of the input (which = 0) or the output (which = 1); UNSUPPORTED when
 * that tensor's rank is not 4 (use wno_engine_rank / wno_engine_dims). */
WNO_API wno_status wno_engine_shape(const wno_engine* engine, int which, int dims[4]);
/* Rank of the input (which = 0) or output (1), -1 on a bad argument; dims[0..rank) its shape. */
WNO_API int wno_engine_rank(const wno_engine* engine, int which);
WNO_API wno_status wno_engine_dims(const wno_engine* engine, int which, long long* dims, int count);
/* The plan, as text (valid while the engine is open): which nodes fused into which stage, each
 * stage's kernel, ISA and tile, the arena size, and every node that runs on a reference kernel. */
WNO_API const char* wno_engine_plan(const wno_engine* engine);
/* The WNO config JSON stored in the file's metadata, "" if none (informative: the engine runs
 * the graph; valid while the engine is open). */
WNO_API const char* wno_engine_config_json(const wno_engine* engine);
/* Bytes of the arena allocated at load (weights, activations, workspaces). */
WNO_API size_t wno_engine_arena_bytes(const wno_engine* engine);
WNO_API int wno_engine_num_threads(const wno_engine* engine);
/* Instruction set of the engine's own loops: "avx512", "avx2", "neon" or "generic". */
WNO_API const char* wno_engine_isa(void);

/* Per-stage times, accumulated over runs since open or the last reset (options.profile = 1):
 * stage i in [0, wno_engine_stage_count(e)) of the plan is named wno_engine_stage_name(e, i);
 * seconds[i] receives its total, *runs the number of runs. */
WNO_API int wno_engine_stage_count(const wno_engine* engine);
WNO_API const char* wno_engine_stage_name(const wno_engine* engine, int stage);
WNO_API wno_status wno_engine_stage_times(const wno_engine* engine, double* seconds, int count,
                                          long long* runs);
WNO_API void wno_engine_reset_stage_times(wno_engine* engine);

#ifdef __cplusplus
}
#endif

#endif /* WNO_ENGINE_H */
