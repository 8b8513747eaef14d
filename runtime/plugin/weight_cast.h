// float16 -> float32 on the device, for half weight/bias inputs (the kernel ABI takes float32).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace wno {
namespace trt {

// Converts `count` IEEE half values at `src` to float at `dst`, asynchronously on `stream`.
cudaError_t half_to_float(const void* src, float* dst, size_t count, cudaStream_t stream) noexcept;

}  // namespace trt
}  // namespace wno
