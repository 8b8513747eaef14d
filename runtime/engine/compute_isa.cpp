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

template <int MR>
inline void micro(int k, const float* a, long long lda, const float* bp, float* c, long long ldc,
                  int nv, bool accumulate) {
  v16 acc[MR];
  for (int i = 0; i < MR; ++i) acc[i] = v16{};
  for (int r = 0; r < k; ++r) {
    const v16 b = load(bp + r * kNr);
    for (int i = 0; i < MR; ++i) acc[i] += a[i * lda + r] * b;
  }
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (nv == kNr) {
      store(ci, accumulate ? load(ci) + acc[i] : acc[i]);
    } else {
      float t[kNr];
      store(t, acc[i]);
      if (accumulate)
        for (int j = 0; j < nv; ++j) ci[j] += t[j];
      else
        for (int j = 0; j < nv; ++j) ci[j] = t[j];
    }
  }
}

void gemm_packed(int m, int n, int k, const float* a, long long lda, const float* bp, float* c,
                 long long ldc, bool accumulate) {
  for (int j0 = 0; j0 < n; j0 += kNr) {
    const int nv = n - j0 < kNr ? n - j0 : kNr;
    int i = 0;
    for (; i + kMr <= m; i += kMr)
      micro<kMr>(k, a + i * lda, lda, bp, c + i * ldc + j0, ldc, nv, accumulate);
    switch (m - i) {
      case 5:
        micro<5>(k, a + i * lda, lda, bp, c + i * ldc + j0, ldc, nv, accumulate);
        break;
      case 4:
        micro<4>(k, a + i * lda, lda, bp, c + i * ldc + j0, ldc, nv, accumulate);
        break;
      case 3:
        micro<3>(k, a + i * lda, lda, bp, c + i * ldc + j0, ldc, nv, accumulate);
        break;
      case 2:
        micro<2>(k, a + i * lda, lda, bp, c + i * ldc + j0, ldc, nv, accumulate);
        break;
      case 1:
        micro<1>(k, a + i * lda, lda, bp, c + i * ldc + j0, ldc, nv, accumulate);
        break;
      default:
        break;
    }
    bp += static_cast<long long>(k) * kNr;
  }
}

// Exact (erf) GELU with the coefficients of the Winograd kernel's epilogue
// (runtime/src/cpu/gelu.h): max |erf error| 6.7e-8 in float.
constexpr float kErfSmall[] = {8.578752677e-05f,  -8.192117112e-04f, 5.205426203e-03f,
                               -2.686120687e-02f, 1.128372954e-01f,  -3.761263616e-01f,
                               1.283791670e-01f};
constexpr float kErfMid[] = {-7.034226518e-05f, -2.923894298e-04f, 1.127263124e-03f,
                             1.845008273e-04f,  -6.268857932e-03f, 1.115520677e-02f,
                             3.613918562e-03f,  -4.939990955e-02f, 9.991951914e-02f,
                             -1.066085233e-01f, 6.271104211e-02f,  9.837904564e-01f};
constexpr float kErfTail[] = {-8.711591185e-05f, 2.145095556e-04f,  -2.952885116e-04f,
                              3.452435122e-04f,  -3.282236964e-04f, 2.279922409e-04f,
                              -1.106855491e-04f, 3.426048000e-05f,  9.999949051e-01f};

template <int N>
inline v16 horner(const float (&c)[N], v16 t) {
  v16 p = splat(c[0]);
  for (int i = 1; i < N; ++i) p = p * t + c[i];
  return p;
}

inline v16 erf(v16 x) {
  const i16 sign = (i16)x & static_cast<int>(0x80000000u);
  v16 a = (v16)((i16)x & 0x7fffffff);
  a = a < 3.95f ? a : splat(3.95f);
  const v16 small = horner(kErfSmall, a * a) * a + a;
  const v16 mid = horner(kErfMid, a - 1.7f);
  const v16 tail = horner(kErfTail, a - 3.225f);
  v16 r = a < 0.9f ? small : (a < 2.5f ? mid : tail);
  r = r < 1.f ? r : splat(1.f);
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

// Weights streamed once per call in order (o, c, [re, im], mode): the accumulators for one out
// channel (2 x modes floats) stay in L1 while the in channels go by.
void mix(int batch, int c, int o, int o0, int o1, long long modes, const float* x, const float* w,
         float* y) {
  for (int oc = o0; oc < o1; ++oc) {
    const float* wo = w + static_cast<long long>(oc) * c * 2 * modes;
    for (int n = 0; n < batch; ++n) {
      float* yr = y + ((static_cast<long long>(n) * o + oc) * 2) * modes;
      float* yi = yr + modes;
      const float* xn = x + static_cast<long long>(n) * c * 2 * modes;
      for (long long q = 0; q < 2 * modes; ++q) yr[q] = 0.f;
      for (int ic = 0; ic < c; ++ic) {
        const float* xr = xn + static_cast<long long>(ic) * 2 * modes;
        const float* xi = xr + modes;
        const float* wr = wo + static_cast<long long>(ic) * 2 * modes;
        const float* wi = wr + modes;
        long long q = 0;
        for (; q + kNr <= modes; q += kNr) {
          const v16 a = load(xr + q), b = load(xi + q), cr = load(wr + q), ci = load(wi + q);
          store(yr + q, load(yr + q) + a * cr - b * ci);
          store(yi + q, load(yi + q) + a * ci + b * cr);
        }
        for (; q < modes; ++q) {
          yr[q] += xr[q] * wr[q] - xi[q] * wi[q];
          yi[q] += xr[q] * wi[q] + xi[q] * wr[q];
        }
      }
    }
  }
}

}  // namespace

const wno::engine::Kernels& kernels() {
  static const wno::engine::Kernels k{WNO_ENGINE_ISA_NAME, pack_b, gemm_packed, bias_act, mix};
  return k;
}

}  // namespace WNO_ENGINE_NS
