// Qualifiers that let one function body compile as CUDA device code (nvcc) and as
// plain C++ (g++/clang), so the CPU tests execute the same tile math the GPU runs.
#pragma once

#if defined(__CUDACC__)
#define WNO_HD __host__ __device__
#define WNO_FORCE_INLINE __forceinline__
#else
#define WNO_HD
#if defined(__GNUC__)
// always_inline also keeps ISA-specific instantiations (AVX-512, AVX2, ...) from
// leaking into another ISA's translation unit through a shared out-of-line copy.
#define WNO_FORCE_INLINE inline __attribute__((always_inline))
#else
#define WNO_FORCE_INLINE inline
#endif
#endif

#if defined(__CUDA_ARCH__)
#define WNO_UNROLL _Pragma("unroll")
#elif defined(__CUDACC__)  // nvcc's host pass: hints nobody needs, and g++ warns on them
#define WNO_UNROLL
#elif defined(__clang__)
#define WNO_UNROLL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__)
#define WNO_UNROLL _Pragma("GCC unroll 64")
#else
#define WNO_UNROLL
#endif
