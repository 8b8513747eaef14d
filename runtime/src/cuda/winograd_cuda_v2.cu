// Kernel v2 (tensor cores) and its C ABI (wno_cuda_v2_*). The block code lives in
// conv_block_v2.h, shared with the host emulation that the tests run.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "async_copy.h"
#include "conv_block_v2_async.h"

namespace wno {
namespace cuda {

wno_status cuda_status(cudaError_t err);  // winograd_cuda.cu

namespace v2 {
namespace {

template <int M, class Math, int MF>
struct DeviceRunner {
  using St = ThreadState<M, Math, MF>;
  struct Warp {
    static constexpr int L = 1;
    St& st;
    int l;
    __device__ __forceinline__ int lane(int) const { return l; }
    __device__ __forceinline__ St& state(int) { return st; }
  };
  St st;
  template <typename F>
  __device__ __forceinline__ void threads(F&& f) {
    f(static_cast<int>(threadIdx.x), st);
  }
  template <typename F>
  __device__ __forceinline__ void warps(F&& f) {
    Warp w{st, static_cast<int>(threadIdx.x & 31)};
    f(static_cast<int>(threadIdx.x >> 5), w);
  }
  __device__ __forceinline__ void sync() { __syncthreads(); }
  __device__ __forceinline__ void copy_async4(int, void* dst, const void* src, int bytes) {
    cuda::copy_async4(dst, src, bytes);
  }
  __device__ __forceinline__ void commit_copies(int) { copy_async_commit(); }
  template <int newest>
  __device__ __forceinline__ void wait_copies(int) {
    copy_async_wait<newest>();
  }
};

template <int M, class Math, int MF, typename T>
__global__ void __launch_bounds__(Block<M, Math, MF>::threads, Block<M, Math, MF>::min_blocks)
    winograd_conv_v2_kernel(const ConvParams<T> p) {
  extern __shared__ __align__(16) unsigned char smem[];
  DeviceRunner<M, Math, MF> run;
  conv_block<M, Math, MF>(run, p, static_cast<int>(blockIdx.x), static_cast<int>(blockIdx.y), smem);
}

// The cp.async pipeline (conv_block_v2_async.h), F(2,3) and F(4,3).
template <int M, class Math, int MF, typename T>
__global__ void __launch_bounds__(Block<M, Math, MF>::threads, Block<M, Math, MF>::min_blocks)
    winograd_conv_v2_async_kernel(const ConvParams<T> p) {
  extern __shared__ __align__(16) unsigned char smem[];
  DeviceRunner<M, Math, MF> run;
  conv_block_async<M, Math, MF>(run, p, static_cast<int>(blockIdx.x), static_cast<int>(blockIdx.y),
                                smem);
}

template <int M, class Math, typename T>
__global__ void winograd_weight_v2_kernel(const WeightParams<T> p) {
  const int count = p.kpad * p.cpad;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x)
    transform_weight<M, Math>(p, i);
}

// cudaFuncSetAttribute once per kernel and device (devices 0..63), not on every launch:
// later launches may run inside CUDA graph capture (TensorRT's), where only stream work
// belongs. The kernel is a template argument so that each kernel has its own flags (kernels
// of one parameter type share a function-pointer type).
template <auto kernel>
wno_status allow_shared_memory(int bytes) {
  static std::atomic<unsigned long long> done{0};
  int device = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return cuda_status(err);
  const unsigned long long bit = device >= 0 && device < 64 ? 1ULL << device : 0ULL;
  if (bit != 0 && (done.load(std::memory_order_acquire) & bit) != 0) return WNO_SUCCESS;
  err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (err != cudaSuccess) return cuda_status(err);
  done.fetch_or(bit, std::memory_order_release);
  return WNO_SUCCESS;
}

template <int M, class Math, typename T>
wno_status transform_weights(const wno_conv_desc& d, const float* weight, void* out,
                             cudaStream_t stream) {
  const ConvShape s = ConvShape::from(d);
  const int kblocks = (s.k + 15) / 16, cchunks = (s.c + Math::K - 1) / Math::K;
  const WeightParams<T> p{weight,       static_cast<T*>(out), s.k,     s.c,
                          kblocks * 16, cchunks * Math::K,    kblocks, cchunks};
  const int count = p.kpad * p.cpad, threads = 128;
  winograd_weight_v2_kernel<M, Math, T><<<(count + threads - 1) / threads, threads, 0, stream>>>(p);
  return cuda_status(cudaGetLastError());
}

template <int M, class Math, int MF, auto kernel, typename T>
wno_status launch(const ConvParams<T>& p, int smem_bytes, cudaStream_t stream) {
  using B = Block<M, Math, MF>;
  const long long gx = (p.s.tiles + B::BN - 1) / B::BN;
  if (gx > 0x7fffffffLL) return WNO_ERROR_INVALID_ARGUMENT;
  const dim3 grid(static_cast<unsigned>(gx),
                  static_cast<unsigned>((p.kblocks + B::MF - 1) / B::MF));
  if (smem_bytes > 48 * 1024) {  // opt in to more than the default dynamic shared memory
    const wno_status s = allow_shared_memory<kernel>(smem_bytes);
    if (s != WNO_SUCCESS) return s;
  }
  kernel<<<grid, B::threads, smem_bytes, stream>>>(p);
  return cuda_status(cudaGetLastError());
}

// WNO_CUDA_V2_PIPELINE=async runs F(2,3) and F(4,3) with the cp.async pipeline; the
// register pipeline stays the default until a GPU has measured the two (make gpu-check).
bool async_pipeline() {
  const char* env = std::getenv("WNO_CUDA_V2_PIPELINE");
  return env && std::strcmp(env, "async") == 0;
}

template <int M, class Math, int MF, typename T>
wno_status launch(const ConvParams<T>& p, cudaStream_t stream) {
  if constexpr (M <= 4) {
    if (async_pipeline())
      return launch<M, Math, MF, winograd_conv_v2_async_kernel<M, Math, MF, T>>(
          p, Staging<M, Math, MF>::smem_bytes, stream);
  }
  return launch<M, Math, MF, winograd_conv_v2_kernel<M, Math, MF, T>>(
      p, Block<M, Math, MF>::smem_bytes, stream);
}

// WNO_CUDA_V2_BLOCK_K=32 or 64 fixes the out channels per block (the GPU check times both).
// Read per launch (tens of nanoseconds) so a process can compare the two.
int forced_block_k() {
  const char* env = std::getenv("WNO_CUDA_V2_BLOCK_K");
  return env ? std::atoi(env) : 0;
}

int multiprocessors(cudaError_t& err) {
  int device = 0, sms = 0;
  err = cudaGetDevice(&device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  return sms;
}

template <int M, class Math, typename T>
wno_status conv2d(const wno_conv_desc& d, const void* x, const void* u, const float* bias, void* y,
                  cudaStream_t stream) {
  const ConvParams<T> p = make_params<M, Math, T>(d, x, u, bias, y);
  cudaError_t err;
  const int sms = multiprocessors(err);
  if (err != cudaSuccess) return cuda_status(err);
  if (row_blocks_for(p.s.tiles, p.kblocks, sms, forced_block_k()) == 2)
    return launch<M, Math, 2, T>(p, stream);
  return launch<M, Math, 4, T>(p, stream);
}

template <class Math, typename T>
wno_status dispatch_weights(const wno_conv_desc& d, const float* w, void* out, cudaStream_t st) {
  switch (d.tile) {
    case 2:
      return transform_weights<2, Math, T>(d, w, out, st);
    case 4:
      return transform_weights<4, Math, T>(d, w, out, st);
    default:
      return transform_weights<6, Math, T>(d, w, out, st);
  }
}

template <class Math, typename T>
wno_status dispatch_conv(const wno_conv_desc& d, const void* x, const void* u, const float* b,
                         void* y, cudaStream_t st) {
  switch (d.tile) {
    case 2:
      return conv2d<2, Math, T>(d, x, u, b, y, st);
    case 4:
      return conv2d<4, Math, T>(d, x, u, b, y, st);
    default:
      return conv2d<6, Math, T>(d, x, u, b, y, st);
  }
}

// Compute capability of the current device as 10 * major + minor (0 and the error if none).
int compute_capability(cudaError_t& err) {
  int device = 0, major = 0, minor = 0;
  err = cudaGetDevice(&device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  if (err == cudaSuccess)
    err = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
  return err == cudaSuccess ? 10 * major + minor : 0;
}

// TF32 MMA needs compute capability 8.0.
wno_status require_tf32() {
  cudaError_t err;
  const int cc = compute_capability(err);
  if (err != cudaSuccess) return cuda_status(err);
  return cc >= 80 ? WNO_SUCCESS : WNO_ERROR_UNSUPPORTED;
}

}  // namespace
}  // namespace v2
}  // namespace cuda
}  // namespace wno

extern "C" {

size_t wno_cuda_v2_weight_size(const wno_conv_desc* desc, wno_dtype dtype) {
  using namespace wno::cuda;
  if (!wno::valid_desc(desc) || desc->dims == 1) return 0;  // no 1-D path: kernel v1 has one
  const wno::ConvShape s = wno::ConvShape::from(*desc);
  if (dtype == WNO_FLOAT32) return static_cast<size_t>(v2::weight_elems<MathTf32>(s)) * 4;
  if (dtype == WNO_FLOAT16) return static_cast<size_t>(v2::weight_elems<MathF16>(s)) * 2;
  return 0;
}

wno_status wno_cuda_v2_transform_weights(const wno_conv_desc* desc, wno_dtype dtype,
                                         const float* weight, void* transformed, void* stream) {
  using namespace wno::cuda;
  if (!wno::valid_desc(desc) || !weight || !transformed) return WNO_ERROR_INVALID_ARGUMENT;
  if (desc->dims == 1) return WNO_ERROR_UNSUPPORTED;
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  if (dtype == WNO_FLOAT32)
    return v2::dispatch_weights<MathTf32, float>(*desc, weight, transformed, st);
  if (dtype == WNO_FLOAT16)
    return v2::dispatch_weights<MathF16, __half>(*desc, weight, transformed, st);
  return WNO_ERROR_UNSUPPORTED;
}

wno_status wno_cuda_v2_conv2d(const wno_conv_desc* desc, wno_dtype dtype, wno_cuda_math math,
                              const void* x, const void* transformed, const float* bias, void* y,
                              void*, size_t, void* stream) {
  using namespace wno::cuda;
  if (!wno::valid_desc(desc) || !x || !transformed || !y) return WNO_ERROR_INVALID_ARGUMENT;
  if (desc->dims == 1) return WNO_ERROR_UNSUPPORTED;
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  if (dtype == WNO_FLOAT16) {
    if (math != WNO_MATH_DEFAULT) return WNO_ERROR_UNSUPPORTED;
    return v2::dispatch_conv<MathF16, __half>(*desc, x, transformed, bias, y, st);
  }
  if (dtype != WNO_FLOAT32) return WNO_ERROR_UNSUPPORTED;
  if (math != WNO_MATH_DEFAULT && math != WNO_MATH_TF32 && math != WNO_MATH_3XTF32)
    return WNO_ERROR_INVALID_ARGUMENT;
  if (const wno_status s = v2::require_tf32()) return s;
  if (math == WNO_MATH_TF32)
    return v2::dispatch_conv<MathTf32, float>(*desc, x, transformed, bias, y, st);
  return v2::dispatch_conv<Math3xTf32, float>(*desc, x, transformed, bias, y, st);
}

int wno_cuda_v2_supported(wno_dtype dtype) {
  cudaError_t err;
  const int cc = wno::cuda::v2::compute_capability(err);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear it: a query is not a failure of the caller's work
    return 0;
  }
  return (dtype == WNO_FLOAT16 && cc >= 75) || (dtype == WNO_FLOAT32 && cc >= 80) ? 1 : 0;
}

}  // extern "C"
