#include "weight_cast.h"

#include <cuda_fp16.h>

namespace wno
{
namespace trt
{
namespace
{

__global__ void halfToFloatKernel(__half const* src, float* dst, size_t count)
{
    size_t const stride = static_cast<size_t>(blockDim.x) * gridDim.x;
    for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride)
    {
        dst[i] = __half2float(src[i]);
    }
}

} // namespace

cudaError_t halfToFloat(void const* src, float* dst, size_t count, cudaStream_t stream) noexcept
{
    if (count == 0)
    {
        return cudaSuccess;
    }
    if (src == nullptr || dst == nullptr)
    {
        return cudaErrorInvalidValue;
    }
    constexpr unsigned kThreads = 256;
    constexpr size_t kMaxBlocks = 1024; // grid-stride loop covers the rest
    size_t const blocks = (count + kThreads - 1) / kThreads;
    unsigned const grid = static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
    halfToFloatKernel<<<grid, kThreads, 0, stream>>>(static_cast<__half const*>(src), dst, count);
    return cudaGetLastError();
}

} // namespace trt
} // namespace wno
