// compute.h's loops for one ISA (WNO_ENGINE_NS names it; the build compiles this file once
// per ISA's flags). GCC/Clang vector extensions of 16 floats: one zmm with AVX-512, two ymm
// with AVX2, four xmm/q registers with SSE2/NEON.
#include <cstring>

#include "compute.h"

#ifndef WNO_ENGINE_NS
#error "compile with -DWNO_ENGINE_NS=<namespace>"
#endif
#ifndef WNO_ENGINE_ISA_NAME
#if defined(__aarch64__)
#define WNO_ENGINE_ISA_NAME "neon"
#else
#define WNO_ENGINE_ISA_NAME "generic"
#endif
#endif

namespace WNO_ENGINE_NS {
namespace {

using wno::engine::kMr;
using wno::engine::kNr;
static_assert(kNr % 16 == 0, "kNr holds whole vectors of every ISA");

typedef float v16 __attribute__((vector_size(64)));
typedef int i16 __attribute__((vector_size(64)));

inline v16 load(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, v16 v) { std::memcpy(p, &v, sizeof v); }
inline v16 splat(float x) { return v16{} + x; }

void pack_b(int k, int n, const float* b, long long ldb, float* out) {
  for (int j0 = 0; j0 < n; j0 += kNr) {
    const int nv = n - j0 < kNr ? n - j0 : kNr;
    for (int r = 0; r < k; ++r) {
      const float* src = b + r * ldb + j0;
      float* dst = out + r * kNr;
      int j = 0;
      for (; j < nv; ++j) dst[j] = src[j];
      for (; j < kNr; ++j) dst[j] = 0.f;
    }
    out += static_cast<long long>(k) * kNr;
  }
}

// The GEMM's register tile: MR rows x kNr columns of C in native vectors (kNv per row).
#if defined(__AVX512F__)
constexpr int kVw = 16;
#elif defined(__AVX2__)
constexpr int kVw = 8;
#else
constexpr int kVw = 4;  // SSE2, NEON
#endif
constexpr int kNv = kNr / kVw;
#if defined(__x86_64__) && !defined(__AVX2__)
constexpr int kMrIsa = 2;  // SSE2: 16 registers
#else
constexpr int kMrIsa = kMr;  // 6 x (1, 2 or 4) accumulators: 6, 12 or 24 of 32/16/32 registers
#endif
typedef float vn __attribute__((vector_size(kVw * sizeof(float))));

inline vn loadn(const float* p) {
  vn v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storen(float* p, vn v) { std::memcpy(p, &v, sizeof v); }

template <int MR>
inline void micro(int k, const float* a, long long lda, const float* bp, float* c, long long ldc,
                  int nv, bool accumulate) {
  vn acc[MR][kNv];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < kNv; ++j) acc[i][j] = vn{};
  for (int r = 0; r < k; ++r) {
    vn b[kNv];
#pragma GCC unroll 4
    for (int j = 0; j < kNv; ++j) b[j] = loadn(bp + r * kNr + j * kVw);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const float ai = a[i * lda + r];
#pragma GCC unroll 4
      for (int j = 0; j < kNv; ++j) acc[i][j] += ai * b[j];
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (nv == kNr) {
#pragma GCC unroll 4
      for (int j = 0; j < kNv; ++j)
        storen(ci + j * kVw, accumulate ? loadn(ci + j * kVw) + acc[i][j] : acc[i][j]);
    } else {
      float t[kNr];
#pragma GCC unroll 4
      for (int j = 0; j < kNv; ++j) storen(t + j * kVw, acc[i][j]);
      if (accumulate)
        for (int j = 0; j < nv; ++j) ci[j] += t[j];
      else
        for (int j = 0; j < nv; ++j) ci[j] = t[j];
    }
  }
}

template <int MR>
void rows(int m, int k, const float* a, long long lda, const float* bp, float* c, long long ldc,
          int nv, bool accumulate) {
  if constexpr (MR > 0) {
    if (m >= MR) {
      micro<MR>(k, a, lda, bp, c, ldc, nv, accumulate);
    } else {
      rows<MR - 1>(m, k, a, lda, bp, c, ldc, nv, accumulate);
    }
  }
}

void gemm_packed(int m, int n, int k, const float* a, long long lda, const float* bp, float* c,
                 long long ldc, bool accumulate) {
  for (int j0 = 0; j0 < n; j0 += kNr) {
    const int nv = n - j0 < kNr ? n - j0 : kNr;
    int i = 0;
    for (; i + kMrIsa <= m; i += kMrIsa)
      micro<kMrIsa>(k, a + i * lda, lda, bp, c + i * ldc + j0, ldc, nv, accumulate);
    if (i < m)
      rows<kMrIsa - 1>(m - i, k, a + i * lda, lda, bp, c + i * ldc + j0, ldc, nv, accumulate);
    bp += static_cast<long long>(k) * kNr;
  }
}

// GELU with erf from Abramowitz & Stegun 7.1.28, erf(a) = 1 - (1 + a1 a + ... + a6 a^6)^-16 for
// a >= 0, evaluated as u16 / (1 + u16) with u = a1 a + ... + a6 a^6 and (1 + u)^2 - 1 = u (2 + u)
// four times (no cancellation): |error| <= 3.8e-7 in float (measured on [0, 10]), 10 FMAs and a
// division, a third of the Winograd kernel's three-polynomial erf (6.7e-8, src/cpu/gelu.h),
// which took ~40% of the projection stage. GELU's error is 0.5 |x| times erf's: far below the
// 1e-5 (of the output scale) the engine is held to against ONNX Runtime.
constexpr float kAs[] = {4.30638e-5f,   2.765672e-4f,   1.520143e-4f,
                         9.2705272e-3f, 4.22820123e-2f, 7.05230784e-2f};

inline v16 erf(v16 x) {
  const i16 sign = (i16)x & static_cast<int>(0x80000000u);
  v16 a = (v16)((i16)x & 0x7fffffff);
  a = a < 10.f ? a : splat(10.f);  // erf(10) is 1 in float and u16 stays finite; NaN stays NaN
  v16 u = splat(kAs[0]);
  for (int i = 1; i < 6; ++i) u = u * a + kAs[i];
  u = u * a;
  for (int i = 0; i < 4; ++i) u = u * (u + 2.f);  // (1 + u)^(2^i) - 1
  const v16 r = u / (u + 1.f);
  return (v16)((i16)r | sign);
}

inline v16 gelu(v16 x) { return 0.5f * x * (1.f + erf(x * 0.70710678118654752f)); }

void bias_act(int m, int n, float* c, long long ldc, const float* bias, bool act) {
  for (int i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    const float b = bias ? bias[i] : 0.f;
    int j = 0;
    for (; j + kNr <= n; j += kNr) {
      v16 v = load(row + j) + b;
      store(row + j, act ? gelu(v) : v);
    }
    if (j < n) {
      float t[kNr] = {};
      for (int q = 0; q < n - j; ++q) t[q] = row[j + q];
      v16 v = load(t) + b;
      store(t, act ? gelu(v) : v);
      for (int q = 0; q < n - j; ++q) row[j + q] = t[q];
    }
  }
}

void add_act(long long n, const float* a, float* y, bool act) {
  long long i = 0;
  for (; i + kNr <= n; i += kNr) {
    const v16 v = load(a + i) + load(y + i);
    store(y + i, act ? gelu(v) : v);
  }
  if (i < n) {
    float t[kNr] = {}, u[kNr] = {};
    for (long long q = 0; q < n - i; ++q) {
      t[q] = a[i + q];
      u[q] = y[i + q];
    }
    const v16 v = load(t) + load(u);
    store(t, act ? gelu(v) : v);
    for (long long q = 0; q < n - i; ++q) y[i + q] = t[q];
  }
}

// Per (out channel, block of 32 modes) the accumulators stay in registers while the in channels
// go by; the weights are laid out in that order, so they stream from memory exactly once.
void mix(int batch, int c, int o, int o0, int o1, long long modes, const float* x, const float* w,
         float* y) {
  constexpr int kB = wno::engine::kModeBlock;
  static_assert(kB == 32, "two vectors of 16 per block");
  const long long blocks = modes / kB;
  for (int oc = o0; oc < o1; ++oc) {
    for (long long b = 0; b < blocks; ++b) {
      const float* wb = w + ((static_cast<long long>(oc) * blocks + b) * c) * 2 * kB;
      for (int n = 0; n < batch; ++n) {
        const float* xn = x + static_cast<long long>(n) * c * 2 * modes + b * kB;
        v16 r0 = v16{}, r1 = v16{}, i0 = v16{}, i1 = v16{};
        for (int ic = 0; ic < c; ++ic) {
          const float* xr = xn + static_cast<long long>(ic) * 2 * modes;
          const float* xi = xr + modes;
          const float* wr = wb + static_cast<long long>(ic) * 2 * kB;
          const float* wi = wr + kB;
          const v16 xr0 = load(xr), xr1 = load(xr + 16), xi0 = load(xi), xi1 = load(xi + 16);
          const v16 wr0 = load(wr), wr1 = load(wr + 16), wi0 = load(wi), wi1 = load(wi + 16);
          r0 += xr0 * wr0 - xi0 * wi0;
          r1 += xr1 * wr1 - xi1 * wi1;
          i0 += xr0 * wi0 + xi0 * wr0;
          i1 += xr1 * wi1 + xi1 * wr1;
        }
        float* yr = y + ((static_cast<long long>(n) * o + oc) * 2) * modes + b * kB;
        store(yr, r0);
        store(yr + 16, r1);
        store(yr + modes, i0);
        store(yr + modes + 16, i1);
      }
    }
  }
}

}  // namespace

const wno::engine::Kernels& kernels() {
  static const wno::engine::Kernels k{
      WNO_ENGINE_ISA_NAME, pack_b, gemm_packed, bias_act, add_act, mix};
  return k;
}

}  // namespace WNO_ENGINE_NS
