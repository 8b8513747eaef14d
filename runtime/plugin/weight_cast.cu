#include "weight_cast.h"

#include <cuda_fp16.h>

namespace wno {
namespace trt {
namespace {

__global__ void half_to_float_kernel(const __half* src, float* dst, size_t count) {
  const size_t stride = static_cast<size_t>(blockDim.x) * gridDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    dst[i] = __half2float(src[i]);
  }
}

}  // namespace

cudaError_t half_to_float(const void* src, float* dst, size_t count, cudaStream_t stream) noexcept {
  if (count == 0) {
    return cudaSuccess;
  }
  if (src == nullptr || dst == nullptr) {
    return cudaErrorInvalidValue;
  }
  constexpr unsigned kThreads = 256;
  constexpr size_t kMaxBlocks = 1024;  // grid-stride loop covers the rest
  const size_t blocks = (count + kThreads - 1) / kThreads;
  const unsigned grid = static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
  half_to_float_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const __half*>(src), dst, count);
  return cudaGetLastError();
}

}  // namespace trt
}  // namespace wno
