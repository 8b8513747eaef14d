// CUDA kernels and C ABI (wno_cuda_*) of the fused Winograd convolution. The block
// code lives in conv_block.h, shared with the host emulation that the tests run.
// Plain CUDA runtime API of CUDA 11/12/13: builds on JetPack 6 (CUDA 12.6) as well.
#include <cuda_runtime.h>

#include "conv_block.h"
#include "conv_block_1d.h"

namespace wno {
namespace cuda {

thread_local char g_last_error[256] = "";

// Shared with winograd_cuda_v2.cu: records the message for wno_cuda_last_error().
wno_status cuda_status(cudaError_t err) {
  if (err == cudaSuccess) return WNO_SUCCESS;
  const char* msg = cudaGetErrorString(err);
  int i = 0;
  for (; msg[i] && i < static_cast<int>(sizeof g_last_error) - 1; ++i) g_last_error[i] = msg[i];
  g_last_error[i] = '\0';
  return WNO_ERROR_CUDA;
}

namespace {

// One CUDA thread per emulated thread; a phase ends at a barrier.
template <typename State>
struct DeviceRunner {
  State st{};
  template <typename F>
  __device__ __forceinline__ void phase(F&& f) {
    f(static_cast<int>(threadIdx.x), st);
    __syncthreads();
  }
};

template <int M, typename T>
__global__ void __launch_bounds__(Block<M>::threads) winograd_conv_kernel(const ConvParams<T> p) {
  __shared__ __align__(16) float smem[Block<M>::smem_floats];
  DeviceRunner<ThreadState<M>> run;
  conv_block<M>(run, p, static_cast<int>(blockIdx.x), static_cast<int>(blockIdx.y), smem);
}

template <int M, typename T>
__global__ void __launch_bounds__(LineBlock<M>::threads)
    winograd_line_kernel(const ConvParams<T> p) {
  __shared__ __align__(16) float smem[LineBlock<M>::smem_floats];
  DeviceRunner<LineState<M>> run;
  conv_line_block<M>(run, p, static_cast<int>(blockIdx.x), static_cast<int>(blockIdx.y), smem);
}

template <int M, typename T>
__global__ void winograd_weight_kernel(const WeightParams<T> p) {
  const int count = p.kpad * p.c;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x)
    transform_weight<M>(p, i);
}

template <int M, typename T>
__global__ void winograd_line_weight_kernel(const WeightParams<T> p) {
  const int count = p.kpad * p.c;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x)
    transform_line_weight<M>(p, i);
}

template <int M, typename T>
wno_status transform_weights(const wno_conv_desc& d, const float* weight, void* out,
                             cudaStream_t stream) {
  const bool line = d.dims == 1;
  const WeightParams<T> p{
      weight, static_cast<T*>(out), d.out_channels, d.in_channels,
      line ? line_padded_out_channels<M>(d.out_channels) : padded_out_channels<M>(d.out_channels)};
  const int count = p.kpad * p.c, threads = 128, blocks = (count + threads - 1) / threads;
  if (line)
    winograd_line_weight_kernel<M, T><<<blocks, threads, 0, stream>>>(p);
  else
    winograd_weight_kernel<M, T><<<blocks, threads, 0, stream>>>(p);
  return cuda_status(cudaGetLastError());
}

template <int M, typename T>
wno_status conv1d(const wno_conv_desc& d, const void* x, const void* u, const float* bias, void* y,
                  cudaStream_t stream) {
  using B = LineBlock<M>;
  const ConvParams<T> p{static_cast<const T*>(x),
                        static_cast<const T*>(u),
                        bias,
                        static_cast<T*>(y),
                        ConvShape::from(d),
                        line_padded_out_channels<M>(d.out_channels)};
  const dim3 grid(static_cast<unsigned>((p.s.tiles + B::BN - 1) / B::BN),
                  static_cast<unsigned>(p.kpad / B::BK));
  winograd_line_kernel<M, T><<<grid, B::threads, 0, stream>>>(p);
  return cuda_status(cudaGetLastError());
}

template <int M, typename T>
wno_status conv2d(const wno_conv_desc& d, const void* x, const void* u, const float* bias, void* y,
                  cudaStream_t stream) {
  using B = Block<M>;
  const ConvParams<T> p{
      static_cast<const T*>(x), static_cast<const T*>(u), bias,
      static_cast<T*>(y),       ConvShape::from(d),       padded_out_channels<M>(d.out_channels)};
  const dim3 grid(static_cast<unsigned>((p.s.tiles + B::BN - 1) / B::BN),
                  static_cast<unsigned>(p.kpad / B::BK));
  winograd_conv_kernel<M, T><<<grid, B::threads, 0, stream>>>(p);
  return cuda_status(cudaGetLastError());
}

template <typename T>
wno_status dispatch_weights(const wno_conv_desc& d, const float* w, void* out, cudaStream_t st) {
  switch (d.tile) {
    case 2:
      return transform_weights<2, T>(d, w, out, st);
    case 4:
      return transform_weights<4, T>(d, w, out, st);
    default:
      return transform_weights<6, T>(d, w, out, st);
  }
}

template <typename T>
wno_status dispatch_conv(const wno_conv_desc& d, const void* x, const void* u, const float* b,
                         void* y, cudaStream_t st) {
  if (d.dims == 1) {
    switch (d.tile) {
      case 2:
        return conv1d<2, T>(d, x, u, b, y, st);
      case 4:
        return conv1d<4, T>(d, x, u, b, y, st);
      default:
        return conv1d<6, T>(d, x, u, b, y, st);
    }
  }
  switch (d.tile) {
    case 2:
      return conv2d<2, T>(d, x, u, b, y, st);
    case 4:
      return conv2d<4, T>(d, x, u, b, y, st);
    default:
      return conv2d<6, T>(d, x, u, b, y, st);
  }
}

}  // namespace
}  // namespace cuda
}  // namespace wno

extern "C" {

size_t wno_cuda_weight_size(const wno_conv_desc* desc, wno_dtype dtype) {
  if (!wno::valid_desc(desc) || (dtype != WNO_FLOAT32 && dtype != WNO_FLOAT16)) return 0;
  return wno::cuda::weight_elems(*desc) * (dtype == WNO_FLOAT32 ? 4 : 2);
}

wno_status wno_cuda_transform_weights(const wno_conv_desc* desc, wno_dtype dtype,
                                      const float* weight, void* transformed, void* stream) {
  if (!wno::valid_desc(desc) || !weight || !transformed) return WNO_ERROR_INVALID_ARGUMENT;
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  if (dtype == WNO_FLOAT32)
    return wno::cuda::dispatch_weights<float>(*desc, weight, transformed, st);
  if (dtype == WNO_FLOAT16)
    return wno::cuda::dispatch_weights<__half>(*desc, weight, transformed, st);
  return WNO_ERROR_UNSUPPORTED;
}

size_t wno_cuda_workspace_size(const wno_conv_desc*, wno_dtype) { return 0; }  // all on chip

wno_status wno_cuda_conv2d(const wno_conv_desc* desc, wno_dtype dtype, const void* x,
                           const void* transformed, const float* bias, void* y, void*, size_t,
                           void* stream) {
  if (!wno::valid_desc(desc) || !x || !transformed || !y) return WNO_ERROR_INVALID_ARGUMENT;
  const cudaStream_t st = static_cast<cudaStream_t>(stream);
  if (dtype == WNO_FLOAT32)
    return wno::cuda::dispatch_conv<float>(*desc, x, transformed, bias, y, st);
  if (dtype == WNO_FLOAT16)
    return wno::cuda::dispatch_conv<__half>(*desc, x, transformed, bias, y, st);
  return WNO_ERROR_UNSUPPORTED;
}

const char* wno_cuda_last_error(void) { return wno::cuda::g_last_error; }

}  // extern "C"
