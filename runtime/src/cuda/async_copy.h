// cp.async (sm_80+): 4-byte global -> shared copies that run while the thread goes on,
// grouped by commit and awaited by wait_group. Below sm_80 the same calls copy at once.
// The host emulation has its own model of these (emulate_grid_v2.h, HostRunnerV2): a copy
// lands only at the wait that covers it, and its destination reads NaN until then.
#pragma once

#include <cstdint>

namespace wno {
namespace cuda {

#if defined(__CUDACC__)
// Copies src_bytes (0, 2 or 4) of the 4 bytes at src to dst and zero-fills the rest; src
// and dst 4-byte aligned. src is not read where src_bytes is 0.
__device__ __forceinline__ void copy_async4(void* dst, const void* src, int src_bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned shared = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(shared), "l"(src),
               "r"(src_bytes)
               : "memory");
#else
  std::uint16_t* d = static_cast<std::uint16_t*>(dst);
  const std::uint16_t* s = static_cast<const std::uint16_t*>(src);
  d[0] = src_bytes >= 2 ? s[0] : 0;
  d[1] = src_bytes >= 4 ? s[1] : 0;
#endif
}

__device__ __forceinline__ void copy_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

// Waits until at most `newest` of this thread's committed groups are still in flight.
template <int newest>
__device__ __forceinline__ void copy_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(newest) : "memory");
#endif
}
#endif

}  // namespace cuda
}  // namespace wno
