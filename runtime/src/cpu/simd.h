// The CPU code's vector vocabulary (GCC/Clang vector extensions: the same source builds as
// AVX-512, AVX2, SSE2 or NEON code), shared by the Winograd kernel (cpu_kernel_isa.cpp) and the
// engine's loops (engine/compute_isa.cpp), each compiled once per ISA into its own namespace.
//   vf, VL     the ISA's native vector: VL floats in one register
//   ivec<V>    the int vector of V's size (bit operations on floats: (ivec<V>)x reinterprets)
//   load, store, splat on vf; load_as<V>, splat_as<V> on any of them (store deduces V)
#pragma once

#include <cstddef>
#include <cstring>
#include <utility>

#include "wno/host_device.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

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

template <std::size_t Bytes>
struct Lanes {
  typedef float f __attribute__((vector_size(Bytes)));
  typedef int i __attribute__((vector_size(Bytes)));
};

typedef Lanes<kVecBytes>::f vf;
template <class V>
using ivec = typename Lanes<sizeof(V)>::i;
template <class V>
constexpr int lanes = static_cast<int>(sizeof(V) / sizeof(float));
constexpr int VL = lanes<vf>;

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

// Only native vectors: GCC lowers a wider vector type (16 floats on AVX2) through the stack, 2-10x
// slower (engine/compute_isa.cpp). Templates, so that no out-of-line copy exists unless used.
template <class V>
WNO_FORCE_INLINE V load_as(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);  // an unaligned vector load
  return v;
}

WNO_FORCE_INLINE vf load(const float* p) { return load_as<vf>(p); }

template <class V>
WNO_FORCE_INLINE void store(float* p, V v) {
  std::memcpy(p, &v, sizeof v);
}

template <class V, std::size_t... I>
WNO_FORCE_INLINE V splat_as(float s, std::index_sequence<I...>) {
  return V{((void)I, s)...};
}

// All lanes s: one broadcast (V{} + s would cost a scalar add: 0 + -0 is +0).
template <class V>
WNO_FORCE_INLINE V splat_as(float s) {
  return splat_as<V>(s, std::make_index_sequence<lanes<V>>{});
}

WNO_FORCE_INLINE vf splat(float s) { return splat_as<vf>(s); }

template <class V, std::size_t... I>
WNO_FORCE_INLINE ivec<V> lane_index(std::index_sequence<I...>) {
  return ivec<V>{static_cast<int>(I)...};
}

// v with lane `lane` replaced by s, in registers: a dynamic subscript (v[lane] = s) would put v,
// and every vector array it lives in, on the stack, and its next vector load would wait for the
// scalar store (the Winograd input transform's seam patches did: a sixth of its time).
WNO_FORCE_INLINE vf with_lane(vf v, int lane, float s) {
  return lane_index<vf>(std::make_index_sequence<VL>{}) == lane ? splat(s) : v;
}

// Lanes [lo, hi) of a vector at p (0 <= lo < hi <= VL), without touching the other lanes' memory:
// masked moves where the ISA has them (they fault on no masked-off lane, so p may point before an
// array whose first element is lane lo), else through a stack copy. Rows whose length is no
// multiple of VL end in such a vector (the DFT GEMMs' 12- and 33-column outputs, the Winograd
// kernel's tile rows cut at a segment's edge).
#if defined(__AVX2__) && !defined(__AVX512F__)
WNO_FORCE_INLINE __m256i lanes_mask(int lo, int hi) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(lo), lane),
                             _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), lane));
}
#elif defined(__AVX512F__)
WNO_FORCE_INLINE __mmask16 lanes_mask(int lo, int hi) {
  return static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
}
#endif

WNO_FORCE_INLINE vf load_lanes(const float* p, int lo, int hi) {  // other lanes 0
#if defined(__AVX512F__)
  return _mm512_maskz_loadu_ps(lanes_mask(lo, hi), p);
#elif defined(__AVX2__)
  return _mm256_maskload_ps(p, lanes_mask(lo, hi));
#else
  float t[VL] = {};
  for (int q = lo; q < hi; ++q) t[q] = p[q];
  return load(t);
#endif
}

WNO_FORCE_INLINE void store_lanes(float* p, int lo, int hi, vf v) {
#if defined(__AVX512F__)
  _mm512_mask_storeu_ps(p, lanes_mask(lo, hi), v);
#elif defined(__AVX2__)
  _mm256_maskstore_ps(p, lanes_mask(lo, hi), v);
#else
  float t[VL];
  store(t, v);
  for (int q = lo; q < hi; ++q) p[q] = t[q];
#endif
}

// The first cnt (0 < cnt <= VL) floats of a vector at p.
WNO_FORCE_INLINE vf load_first(const float* p, int cnt) { return load_lanes(p, 0, cnt); }
WNO_FORCE_INLINE void store_first(float* p, int cnt, vf v) { store_lanes(p, 0, cnt, v); }

}  // namespace WNO_CPU_NS
