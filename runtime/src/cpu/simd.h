// The vector type of the ISA this translation unit is compiled for (GCC/Clang vector
// extensions: the same source builds as AVX-512, AVX2, SSE2 or NEON code).
#pragma once

#include <cstring>
#include <utility>

#include "wno/host_device.h"

#ifndef WNO_CPU_NS
#error "compile with -DWNO_CPU_NS=<per-ISA namespace>"
#endif

namespace WNO_CPU_NS {

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX2__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;  // SSE2 on x86-64, NEON on aarch64
#endif

typedef float vf __attribute__((vector_size(kVecBytes)));
constexpr int VL = kVecBytes / static_cast<int>(sizeof(float));

// Vectors of tiles in the GEMM's register tile (x 4 out channels): 4 x NV accumulators,
// NV loaded vectors and one broadcast must fit the register file (32 on AVX-512 and
// NEON, 16 on AVX2 and SSE2).
#if defined(__AVX512F__) || defined(__aarch64__)
constexpr int kTileVectors = 4;
#elif defined(__AVX2__)
constexpr int kTileVectors = 3;
#else
constexpr int kTileVectors = 2;
#endif

WNO_FORCE_INLINE vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);  // an unaligned vector load
  return v;
}

WNO_FORCE_INLINE void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }

template <std::size_t... I>
WNO_FORCE_INLINE vf splat(float s, std::index_sequence<I...>) {
  return vf{((void)I, s)...};
}

// All lanes s: one broadcast (vf{} + s would cost a scalar add: 0 + -0 is +0).
WNO_FORCE_INLINE vf splat(float s) { return splat(s, std::make_index_sequence<VL>{}); }

}  // namespace WNO_CPU_NS
