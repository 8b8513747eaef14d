/* C ABI of the wno-edge Winograd F(m x m, 3 x 3) convolution kernels.
 *
 * Plain C: status codes, no exceptions across the boundary, caller-owned memory.
 * Used by the Python binding (ctypes) and by the TensorRT plugin.
 *
 *   y = conv2d(x, weight, bias, stride 1, padding 0 or 1)   x: N,C,H,W  weight: K,C,3,3
 *   y = conv1d(x, weight, bias, stride 1, padding 0 or 1)   x: N,C,W    weight: K,C,3
 *       (dims = 1 in the descriptor: F(m, 3) on a line, the same matrices)
 *
 * Every kernel works in three steps: transform the weights once (layout private to the
 * kernel, size from *_weight_size), ask for the workspace size, run.
 *   libwno_winograd.so       CPU kernel (wno_cpu_*), float32
 *   libwno_winograd_cuda.so  CUDA kernel (wno_cuda_*), float32 and float16 storage
 * Ownership, threading, errors, versions and what may change: docs/c-api.md.
 */
#ifndef WNO_WINOGRAD_H
#define WNO_WINOGRAD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define WNO_API __declspec(dllexport)
#else
#define WNO_API __attribute__((visibility("default")))
#endif

/* Bumped by any incompatible change; libwno_winograd.so.<this> (its SONAME) follows it. */
#define WNO_ABI_VERSION 2

typedef enum wno_status {
  WNO_SUCCESS = 0,
  WNO_ERROR_INVALID_ARGUMENT = 1, /* shape, tile, padding or a null pointer */
  WNO_ERROR_WORKSPACE_TOO_SMALL = 2,
  WNO_ERROR_OUT_OF_MEMORY = 3,
  WNO_ERROR_UNSUPPORTED = 4, /* dtype or feature not built into this library */
  WNO_ERROR_CUDA = 5,        /* a CUDA runtime call failed: wno_cuda_last_error() */
  WNO_ERROR_INTERNAL = 6
} wno_status;

typedef enum wno_dtype {
  WNO_FLOAT32 = 0,
  WNO_FLOAT16 = 1 /* storage; the arithmetic is float32 */
} wno_dtype;

typedef struct wno_conv_desc {
  int batch;        /* N */
  int in_channels;  /* C */
  int out_channels; /* K */
  int height;       /* H */
  int width;        /* W */
  int padding;      /* 0 or 1, on every side */
  int tile;         /* output tile m of F(m x m, 3 x 3): 2, 4 or 6 */
  int dims;         /* spatial dimensions: 2 (0 means 2) or 1; 1: x N,C,W with height 1,
                       weight K,C,3, y N,K,Wo, padding on the width only (ABI 2) */
} wno_conv_desc;

WNO_API int wno_abi_version(void);
WNO_API const char* wno_status_string(wno_status status);
/* Output height/width: H + 2 * padding - 2, W + 2 * padding - 2 (dims 1: 1, W + 2 * padding - 2).
 */
WNO_API wno_status wno_conv_output_size(const wno_conv_desc* desc, int* out_height, int* out_width);

/* ---- CPU kernel: float32, NCHW, multi-threaded. ---------------------------------
 * num_threads <= 0 means the default: $WNO_NUM_THREADS, else the hardware threads.
 * workspace may be NULL (the call then allocates its own); otherwise it must hold
 * wno_cpu_workspace_size(desc, num_threads) bytes, 64-byte alignment preferred. */
WNO_API size_t wno_cpu_weight_size(const wno_conv_desc* desc);
WNO_API wno_status wno_cpu_transform_weights(const wno_conv_desc* desc, const float* weight,
                                             void* transformed, size_t transformed_bytes);
WNO_API size_t wno_cpu_workspace_size(const wno_conv_desc* desc, int num_threads);
WNO_API wno_status wno_cpu_conv2d(const wno_conv_desc* desc, const float* x,
                                  const void* transformed, const float* bias /* K or NULL */,
                                  float* y, void* workspace, size_t workspace_bytes,
                                  int num_threads);
/* y = act(conv2d(x, weight) + bias + addend): a WNO layer's fused epilogue.
 * addend: NULL or a tensor of y's shape (N, K, Ho, Wo) added before the activation (the
 * spectral branch); it may alias y (read before y is written, element by element).
 * activation: WNO_ACT_NONE or WNO_ACT_GELU (exact erf GELU, as torch.nn.functional.gelu).
 * Same weight/workspace contract as wno_cpu_conv2d, which is this call with addend NULL
 * and WNO_ACT_NONE. */
typedef enum wno_activation { WNO_ACT_NONE = 0, WNO_ACT_GELU = 1 } wno_activation;
WNO_API wno_status wno_cpu_conv2d_fused(const wno_conv_desc* desc, const float* x,
                                        const void* transformed, const float* bias,
                                        const float* addend, wno_activation activation, float* y,
                                        void* workspace, size_t workspace_bytes, int num_threads);
/* The same on a caller's thread pool instead of the library's own: an application that
 * already has one (the engine) would otherwise run two pools on the same cores.
 * parallel_for(pool, n, task, task_ctx) must call task(task_ctx, t, worker) once for every
 * t in [0, n), with 0 <= worker < num_threads and no two concurrent calls sharing a worker
 * (worker indexes per-thread scratch), and return when all are done. The workspace must
 * hold wno_cpu_workspace_size(desc, num_threads) bytes (NULL: the call allocates it). */
typedef void (*wno_task_fn)(void* task_ctx, long long task, int worker);
typedef struct wno_cpu_parallel {
  void (*parallel_for)(void* pool, long long n_tasks, wno_task_fn task, void* task_ctx);
  void* pool;
  int num_threads;
} wno_cpu_parallel;
WNO_API wno_status wno_cpu_conv2d_on(const wno_conv_desc* desc, const float* x,
                                     const void* transformed, const float* bias,
                                     const float* addend, wno_activation activation, float* y,
                                     void* workspace, size_t workspace_bytes,
                                     const wno_cpu_parallel* parallel);
/* Instruction set the CPU kernel dispatched to: "avx512", "avx2", "neon" or "generic".
 * $WNO_CPU_ISA (same names) lowers the choice, e.g. to test every path on one machine. */
WNO_API const char* wno_cpu_isa(void);
WNO_API int wno_cpu_default_threads(void);

/* ---- CUDA kernel: float32 or float16 storage, NCHW, any N/C/K/H/W. ----------------
 * All pointers are device pointers; stream is a cudaStream_t (NULL: default stream).
 * weight and bias are float32 whatever dtype is; x, y and the transformed weights
 * are of dtype. Calls are asynchronous on the stream. */
WNO_API size_t wno_cuda_weight_size(const wno_conv_desc* desc, wno_dtype dtype);
WNO_API wno_status wno_cuda_transform_weights(const wno_conv_desc* desc, wno_dtype dtype,
                                              const float* weight, void* transformed, void* stream);
WNO_API size_t wno_cuda_workspace_size(const wno_conv_desc* desc, wno_dtype dtype);
WNO_API wno_status wno_cuda_conv2d(const wno_conv_desc* desc, wno_dtype dtype, const void* x,
                                   const void* transformed, const float* bias /* K or NULL */,
                                   void* y, void* workspace, size_t workspace_bytes, void* stream);
/* Message of the last CUDA error seen by this thread ("" if none). */
WNO_API const char* wno_cuda_last_error(void);

/* ---- CUDA kernel v2: tensor cores (mma.sync), same conv, own weight layout. -------
 * The Winograd-domain GEMM runs on tensor cores: float16 storage multiplies float16
 * operands with float32 accumulation (sm_75+); float32 storage uses TF32 operands, plain
 * or split in three (3xTF32, float32-level accuracy), on sm_80+. v1 (wno_cuda_*) is
 * unchanged; the transformed weights of the two kernels are not interchangeable.
 * wno_cuda_v2_conv2d returns WNO_ERROR_UNSUPPORTED for float32 on a device below sm_80
 * (use v1 there), and v2 has no 1-D path: for dims 1 its weight size is 0 and its calls
 * return WNO_ERROR_UNSUPPORTED (use v1). No workspace: pass NULL, 0. */
typedef enum wno_cuda_math {
  WNO_MATH_DEFAULT = 0, /* float16: fp16 MMA; float32: 3xTF32 */
  WNO_MATH_TF32 = 1,    /* float32 only: one TF32 MMA (about 1e-3 relative error) */
  WNO_MATH_3XTF32 = 2   /* float32 only: three TF32 MMAs, float32-level error */
} wno_cuda_math;
WNO_API size_t wno_cuda_v2_weight_size(const wno_conv_desc* desc, wno_dtype dtype);
WNO_API wno_status wno_cuda_v2_transform_weights(const wno_conv_desc* desc, wno_dtype dtype,
                                                 const float* weight, void* transformed,
                                                 void* stream);
WNO_API wno_status wno_cuda_v2_conv2d(const wno_conv_desc* desc, wno_dtype dtype,
                                      wno_cuda_math math, const void* x, const void* transformed,
                                      const float* bias /* K or NULL */, void* y, void* workspace,
                                      size_t workspace_bytes, void* stream);
/* 1 if kernel v2 runs dtype on the current device (float16: sm_75+, float32: sm_80+), else 0
 * (also without a device). */
WNO_API int wno_cuda_v2_supported(wno_dtype dtype);

#ifdef __cplusplus
}
#endif

#endif /* WNO_WINOGRAD_H */
