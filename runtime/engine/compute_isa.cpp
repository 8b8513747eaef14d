// compute.h's loops for one ISA (WNO_ENGINE_NS names it; the build compiles this file once
// per ISA's flags). The vocabulary is the Winograd kernel's (src/cpu/simd.h, gelu.h), and every
// loop runs in the ISA's native vectors vf: GCC lowers a wider vector type (vf16 on AVX2) through
// the stack, which made bias_act 10x and the mixing 2.7x slower on AVX2 than on AVX-512 on the
// same Zen 4 cores (whose FMA peak is the same for both).
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
#define WNO_CPU_NS WNO_ENGINE_NS  // simd.h's and gelu.h's per-ISA namespace: this build's

#include "../src/cpu/gelu.h"
#include "../src/cpu/simd.h"
#include "compute.h"

namespace WNO_ENGINE_NS {
namespace {

using wno::engine::kMr;
using wno::engine::kNr;
static_assert(kNr % 16 == 0, "kNr holds whole vectors of every ISA");

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
constexpr int kNv = kNr / VL;
#if defined(__x86_64__) && !defined(__AVX2__)
constexpr int kMrIsa = 2;  // SSE2: 16 registers
#else
constexpr int kMrIsa = kMr;  // 6 x (1, 2 or 4) accumulators: 6, 12 or 24 of 32/16/32 registers
#endif

template <int MR>
inline void micro(int k, const float* a, long long lda, const float* bp, float* c, long long ldc,
                  int nv, bool accumulate) {
  vf acc[MR][kNv];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < kNv; ++j) acc[i][j] = vf{};
  for (int r = 0; r < k; ++r) {
    vf b[kNv];
#pragma GCC unroll 4
    for (int j = 0; j < kNv; ++j) b[j] = load(bp + r * kNr + j * VL);
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
        store(ci + j * VL, accumulate ? load(ci + j * VL) + acc[i][j] : acc[i][j]);
    } else {
      float t[kNr];
#pragma GCC unroll 4
      for (int j = 0; j < kNv; ++j) store(t + j * VL, acc[i][j]);
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

// GELU here is gelu.h's gelu_erf_as (erf to 3.8e-7 for a third of the kernel's poly3 work).
template <int Act>
inline vf activate(vf v) {
  if constexpr (Act == wno::engine::kGelu) return gelu_erf_as(v);
  if constexpr (Act == wno::engine::kSilu) return silu_exp(v);
  return v;
}

template <int Act>
void bias_rows(int m, int n, float* c, long long ldc, const float* bias) {
  for (int i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    const float b = bias ? bias[i] : 0.f;
    int j = 0;
    for (; j + VL <= n; j += VL) store(row + j, activate<Act>(load(row + j) + b));
    if (j < n) {
      float t[VL] = {};
      for (int q = 0; q < n - j; ++q) t[q] = row[j + q];
      store(t, activate<Act>(load(t) + b));
      for (int q = 0; q < n - j; ++q) row[j + q] = t[q];
    }
  }
}

void bias_act(int m, int n, float* c, long long ldc, const float* bias, int act) {
  if (act == wno::engine::kGelu)
    bias_rows<wno::engine::kGelu>(m, n, c, ldc, bias);
  else if (act == wno::engine::kSilu)
    bias_rows<wno::engine::kSilu>(m, n, c, ldc, bias);
  else
    bias_rows<wno::engine::kNone>(m, n, c, ldc, bias);
}

void add_act(long long n, const float* a, float* y, bool act) {
  long long i = 0;
  for (; i + VL <= n; i += VL) {
    const vf v = load(a + i) + load(y + i);
    store(y + i, act ? gelu_erf_as(v) : v);
  }
  if (i < n) {
    float t[VL] = {}, u[VL] = {};
    for (long long q = 0; q < n - i; ++q) {
      t[q] = a[i + q];
      u[q] = y[i + q];
    }
    const vf v = load(t) + load(u);
    store(t, act ? gelu_erf_as(v) : v);
    for (long long q = 0; q < n - i; ++q) y[i + q] = t[q];
  }
}

// Per (out channel, block of 32 modes) the accumulators stay in registers while the in channels
// go by; the weights are laid out in that order, so they stream from memory exactly once.
void mix(int batch, int c, int o, int o0, int o1, long long modes, const float* x, const float* w,
         float* y) {
  constexpr int kB = wno::engine::kModeBlock, kV = kB / VL;  // native vectors per block
  static_assert(kB % VL == 0, "whole vectors per block");
  const long long blocks = modes / kB;
  for (int oc = o0; oc < o1; ++oc) {
    for (long long b = 0; b < blocks; ++b) {
      const float* wb = w + ((static_cast<long long>(oc) * blocks + b) * c) * 2 * kB;
      for (int n = 0; n < batch; ++n) {
        const float* xn = x + static_cast<long long>(n) * c * 2 * modes + b * kB;
        vf re[kV], im[kV];
#pragma GCC unroll 8
        for (int q = 0; q < kV; ++q) re[q] = im[q] = vf{};
        for (int ic = 0; ic < c; ++ic) {
          const float* xr = xn + static_cast<long long>(ic) * 2 * modes;
          const float* xi = xr + modes;
          const float* wr = wb + static_cast<long long>(ic) * 2 * kB;
          const float* wi = wr + kB;
#pragma GCC unroll 8
          for (int q = 0; q < kV; ++q) {
            const vf a = load(xr + q * VL), bi = load(xi + q * VL);
            const vf u = load(wr + q * VL), v = load(wi + q * VL);
            re[q] += a * u - bi * v;
            im[q] += a * v + bi * u;
          }
        }
        float* yr = y + ((static_cast<long long>(n) * o + oc) * 2) * modes + b * kB;
#pragma GCC unroll 8
        for (int q = 0; q < kV; ++q) {
          store(yr + q * VL, re[q]);
          store(yr + modes + q * VL, im[q]);
        }
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
