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

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <type_traits>

#include "../src/cpu/gelu.h"
#include "../src/cpu/lane_shuffle.h"
#include "../src/cpu/simd.h"
#include "compute.h"

namespace WNO_ENGINE_NS {
namespace {

using wno::engine::kMr;
using wno::engine::kNr;
static_assert(kNr % 16 == 0, "kNr holds whole vectors of every ISA");

void pack_b(int k, int n, const float* b, long long ldb, float* out) {
  static_assert(kNr % VL == 0, "a panel row is whole vectors");
  for (int j0 = 0; j0 < n; j0 += kNr) {
    const int nv = n - j0 < kNr ? n - j0 : kNr;
    if (nv == kNr) {  // a whole panel: vector copies (the scalar loop below cost 9% of an FNO run)
      for (int r = 0; r < k; ++r) {
        const float* src = b + r * ldb + j0;
        WNO_UNROLL for (int v = 0; v < kNr; v += VL)
          store(out + r * kNr + v, load(src + v));
      }
      out += static_cast<long long>(k) * kNr;
      continue;
    }
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

// The GEMM's register tile: MR rows x NP packed panels (NP kNr columns) of C in native vectors,
// W = NP kNv per row. AVX-512 (one vector a panel) takes two panels: 12 accumulators, two loads
// and six broadcasts per 12 FMAs, where one panel gave six FMAs per six broadcasts (60% of the
// FMA peak on the projection's GEMM). AVX2 and NEON (2 and 4 vectors a panel) keep one.
constexpr int kNv = kNr / VL;
#if defined(__x86_64__) && !defined(__AVX2__)
constexpr int kMrIsa = 2;  // SSE2: 16 registers
#else
constexpr int kMrIsa = kMr;  // 6 x (2, 2 or 4) accumulators: 12, 12 or 24 of 32/16/32 registers
#endif
constexpr int kNpIsa = kNv == 1 ? 2 : 1;
// Rows of C left over (m % kMrIsa; a single row: the projection's last GEMM) are chains of
// dependent FMAs, one per accumulator: they take more panels at once, as many as fit in half the
// register file (12 or 24 vectors), up to 4 vectors a row.
constexpr int tail_panels(int mr) {
  const int budget = (kVecBytes == 32 || kMrIsa == 2 ? 12 : 24) / (mr * kNv);
  const int most = 4 / kNv > 1 ? 4 / kNv : 1;
  return budget < 1 ? 1 : budget > most ? most : budget;
}

template <int MR, int NP>
inline void micro(int k, const float* a, long long lda, const float* bp, float* c, long long ldc,
                  int nv, bool accumulate) {
  constexpr int W = NP * kNv;
  const long long panel = static_cast<long long>(k) * kNr;
  vf acc[MR][W];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
    for (int j = 0; j < W; ++j) acc[i][j] = vf{};
  for (int r = 0; r < k; ++r) {
    vf b[W];
#pragma GCC unroll 16
    for (int j = 0; j < W; ++j) b[j] = load(bp + (j / kNv) * panel + r * kNr + (j % kNv) * VL);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const float ai = a[i * lda + r];
#pragma GCC unroll 16
      for (int j = 0; j < W; ++j) acc[i][j] += ai * b[j];
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 16
    for (int j = 0; j < W; ++j) {
      const int cnt = nv - j * VL;
      if (cnt >= VL)
        store(ci + j * VL, accumulate ? load(ci + j * VL) + acc[i][j] : acc[i][j]);
      else if (cnt > 0)
        store_first(ci + j * VL, cnt,
                    accumulate ? load_first(ci + j * VL, cnt) + acc[i][j] : acc[i][j]);
    }
  }
}

// Rows [0, m) of C, m < MR, on one group of NP panels (nv columns).
template <int MR, int NP>
void rows(int m, int k, const float* a, long long lda, const float* bp, float* c, long long ldc,
          int nv, bool accumulate) {
  if constexpr (MR > 0) {
    if (m >= MR) {
      micro<MR, NP>(k, a, lda, bp, c, ldc, nv, accumulate);
    } else {
      rows<MR - 1, NP>(m, k, a, lda, bp, c, ldc, nv, accumulate);
    }
  }
}

// C (m x n) = / += A @ B on groups of NP panels; what is left, fewer than NP panels, on groups of
// NP / 2 (a group never reads a panel past the end).
template <int MR, int NP>
void gemm_rows(int m, int n, int k, const float* a, long long lda, const float* bp, float* c,
               long long ldc, bool accumulate) {
  const long long panel = static_cast<long long>(k) * kNr;
  int j0 = 0;
  for (; j0 + (NP - 1) * kNr < n; j0 += NP * kNr, bp += NP * panel) {
    const int nv = n - j0 < NP * kNr ? n - j0 : NP * kNr;
    int i = 0;
    for (; i + MR <= m; i += MR)
      micro<MR, NP>(k, a + i * lda, lda, bp, c + i * ldc + j0, ldc, nv, accumulate);
    if (i < m)
      rows<MR - 1, NP>(m - i, k, a + i * lda, lda, bp, c + i * ldc + j0, ldc, nv, accumulate);
  }
  if constexpr (NP > 1)
    if (j0 < n) gemm_rows<MR, NP / 2>(m, n - j0, k, a, lda, bp, c + j0, ldc, accumulate);
}

// The m < kMrIsa rows left over: m rows at once, on tail_panels(m) panels.
template <int R>
void tail_rows(int m, int n, int k, const float* a, long long lda, const float* bp, float* c,
               long long ldc, bool accumulate) {
  if constexpr (R > 0) {
    if (m == R)
      gemm_rows<R, tail_panels(R)>(m, n, k, a, lda, bp, c, ldc, accumulate);
    else
      tail_rows<R - 1>(m, n, k, a, lda, bp, c, ldc, accumulate);
  }
}

void gemm_packed(int m, int n, int k, const float* a, long long lda, const float* bp, float* c,
                 long long ldc, bool accumulate) {
  if constexpr (kNv == 1) {  // AVX-512, one panel (the DFTs' 12 modes): 12 rows, 12 accumulators
    if (n <= kNr && m >= 12) {
      const int rows12 = m / 12 * 12;
      gemm_rows<12, 1>(rows12, n, k, a, lda, bp, c, ldc, accumulate);
      a += rows12 * lda;
      c += rows12 * ldc;
      m -= rows12;
    }
  }
  const int full = m / kMrIsa * kMrIsa;
  if (full) gemm_rows<kMrIsa, kNpIsa>(full, n, k, a, lda, bp, c, ldc, accumulate);
  if (full < m)
    tail_rows<kMrIsa - 1>(m - full, n, k, a + full * lda, lda, bp, c + full * ldc, ldc, accumulate);
}

// GELU here is gelu.h's gelu_erf_rational (erf to 3.7e-7 for a third of the kernel's poly3 work).
template <int Act>
inline vf activate(vf v) {
  if constexpr (Act == wno::engine::kGelu) return gelu_erf_rational(v);
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
    if (j < n) store_first(row + j, n - j, activate<Act>(load_first(row + j, n - j) + b));
  }
}

// Calls f(std::integral_constant<int, act>{}): one instantiation per Activation.
template <class F>
void with_act(int act, F f) {
  if (act == wno::engine::kGelu)
    f(std::integral_constant<int, wno::engine::kGelu>{});
  else if (act == wno::engine::kSilu)
    f(std::integral_constant<int, wno::engine::kSilu>{});
  else
    f(std::integral_constant<int, wno::engine::kNone>{});
}

void bias_act(int m, int n, float* c, long long ldc, const float* bias, int act) {
  with_act(act, [&](auto a) { bias_rows<decltype(a)::value>(m, n, c, ldc, bias); });
}

void add_act(long long n, const float* a, float* y, bool act) {
  long long i = 0;
  for (; i + VL <= n; i += VL) {
    const vf v = load(a + i) + load(y + i);
    store(y + i, act ? gelu_erf_rational(v) : v);
  }
  if (i < n) {
    const int cnt = static_cast<int>(n - i);
    const vf v = load_first(a + i, cnt) + load_first(y + i, cnt);
    store_first(y + i, cnt, act ? gelu_erf_rational(v) : v);
  }
}

// out[o][j] = sum_p w[o * m + p] act(h[p][j] + bias[p]) for o < O and the V vectors of columns
// at h (or the cnt < VL columns of one vector): each activation serves O outputs.
template <int Act, int O, int V>
WNO_FORCE_INLINE void act_dot_cols(int m, const float* h, long long ldh, const float* bias,
                                   const float* w, float* out, long long ldo, int cnt) {
  vf acc[O][V];
  WNO_UNROLL for (int o = 0; o < O; ++o) {
    WNO_UNROLL for (int v = 0; v < V; ++v)
      acc[o][v] = vf{};
  }
  for (int p = 0; p < m; ++p, h += ldh) {
    const float b = bias ? bias[p] : 0.f;
    WNO_UNROLL for (int v = 0; v < V; ++v) {
      const vf g = activate<Act>((cnt < VL ? load_first(h, cnt) : load(h + v * VL)) + b);
      WNO_UNROLL for (int o = 0; o < O; ++o)
        acc[o][v] += w[o * m + p] * g;
    }
  }
  WNO_UNROLL for (int o = 0; o < O; ++o) {
    WNO_UNROLL for (int v = 0; v < V; ++v) {
      if (cnt < VL)
        store_first(out + o * ldo, cnt, acc[o][v]);
      else
        store(out + o * ldo + v * VL, acc[o][v]);
    }
  }
}

// O outputs x V vectors of accumulators, within the register file with the activation's own.
template <int Act, int O>
void act_dot_rows(int m, int n, const float* h, long long ldh, const float* bias, const float* w,
                  float* out, long long ldo) {
  constexpr int V = kVecBytes == 64 ? 4 : 2;
  int j = 0;
  for (; j + V * VL <= n; j += V * VL)
    act_dot_cols<Act, O, V>(m, h + j, ldh, bias, w, out + j, ldo, VL);
  for (; j + VL <= n; j += VL) act_dot_cols<Act, O, 1>(m, h + j, ldh, bias, w, out + j, ldo, VL);
  if (j < n) act_dot_cols<Act, O, 1>(m, h + j, ldh, bias, w, out + j, ldo, n - j);
}

template <int Act>
void act_dot_act(int m, int n, const float* h, long long ldh, const float* bias, int rows,
                 const float* w, float* out, long long ldo) {
  for (int o = 0; o < rows; o += 4, w += 4LL * m, out += 4 * ldo) {
    switch (std::min(4, rows - o)) {
      case 1:
        act_dot_rows<Act, 1>(m, n, h, ldh, bias, w, out, ldo);
        break;
      case 2:
        act_dot_rows<Act, 2>(m, n, h, ldh, bias, w, out, ldo);
        break;
      case 3:
        act_dot_rows<Act, 3>(m, n, h, ldh, bias, w, out, ldo);
        break;
      default:
        act_dot_rows<Act, 4>(m, n, h, ldh, bias, w, out, ldo);
    }
  }
}

void act_dot(int m, int n, const float* h, long long ldh, const float* bias, int act, int rows,
             const float* w, float* out, long long ldo) {
  with_act(act,
           [&](auto a) { act_dot_act<decltype(a)::value>(m, n, h, ldh, bias, rows, w, out, ldo); });
}

void lift_row(int n, int cin, const float* x, long long ldx, const float* w, float r,
              const float* c, float* out) {
  int j = 0;
  for (; j + VL <= n; j += VL) {
    vf acc{};
    for (int i = 0; i < cin; ++i) acc += w[i] * load(x + i * ldx + j);
    store(out + j, acc + (r + load(c + j)));
  }
  if (j < n) {
    const int cnt = n - j;
    vf acc{};
    for (int i = 0; i < cin; ++i) acc += w[i] * load_first(x + i * ldx + j, cnt);
    store_first(out + j, cnt, acc + (r + load_first(c + j, cnt)));
  }
}

// The DFT folds in native vectors: v[wp - j] for VL consecutive j is a load and a lane reversal.
struct Reverse {
  static constexpr int at(int l) { return VL - 1 - l; }
};

WNO_FORCE_INLINE vf reversed(const float* p) { return shuffle<Reverse>(load(p), vf{}); }

void fold(int rows, const float* v, long long ldv, int wp, float* even, float* odd) {
  const int ne = wp / 2 + 1, no = (wp - 1) / 2;
  for (int i = 0; i < rows; ++i, v += ldv, even += ne, odd += no) {
    even[0] = v[0];
    int j = 1;
    for (; j + VL - 1 <= no; j += VL) {
      const vf a = load(v + j), b = reversed(v + wp - j - VL + 1);
      store(even + j, a + b);
      store(odd + j - 1, a - b);
    }
    if (j <= no) {  // the last cnt < VL columns, masked (a 64-wide row: 15 of its 31)
      const int cnt = no - j + 1;
      const vf a = load_first(v + j, cnt);
      const vf b = shuffle<Reverse>(load_lanes(v + wp - j - VL + 1, VL - cnt, VL), vf{});
      store_first(even + j, cnt, a + b);
      store_first(odd + j - 1, cnt, a - b);
    }
    if (wp % 2 == 0) even[wp / 2] = v[wp / 2];
  }
}

void unfold(int rows, const float* even, const float* odd, int wp, float* out, long long ldo) {
  const int ne = wp / 2 + 1, no = (wp - 1) / 2;
  for (int i = 0; i < rows; ++i, out += ldo, even += ne, odd += no) {
    out[0] = even[0];
    int j = 1;
    for (; j + VL - 1 <= no; j += VL) {
      const vf a = load(even + j), b = load(odd + j - 1);
      store(out + j, a + b);
      store(out + wp - j - VL + 1, shuffle<Reverse>(a - b, vf{}));
    }
    if (j <= no) {
      const int cnt = no - j + 1;
      const vf a = load_first(even + j, cnt), b = load_first(odd + j - 1, cnt);
      store_first(out + j, cnt, a + b);
      store_lanes(out + wp - j - VL + 1, VL - cnt, VL, shuffle<Reverse>(a - b, vf{}));
    }
    if (wp % 2 == 0) out[wp / 2] = even[wp / 2];
  }
}

// dst = f(a, b) over n floats (a, b, dst rows), the last vector masked.
template <class F>
inline void row_op(int n, const float* a, const float* b, float* dst, F f) {
  int j = 0;
  for (; j + VL <= n; j += VL) store(dst + j, f(load(a + j), load(b + j)));
  if (j < n) store_first(dst + j, n - j, f(load_first(a + j, n - j), load_first(b + j, n - j)));
}

inline void copy_row(int n, const float* a, float* dst) {
  row_op(n, a, a, dst, [](vf x, vf) { return x; });
}

void fold_rows(int rows, int n, const float* t, long long ldt, float* even, long long lde,
               float* odd, long long ldo) {
  const int no = (rows - 1) / 2;
  copy_row(n, t, even);
  for (int j = 1; j <= no; ++j) {
    const float* a = t + j * ldt;
    const float* b = t + (rows - j) * ldt;
    row_op(n, a, b, even + j * lde, [](vf x, vf y) { return x + y; });
    row_op(n, a, b, odd + (j - 1) * ldo, [](vf x, vf y) { return x - y; });
  }
  if (rows % 2 == 0) copy_row(n, t + (rows / 2) * ldt, even + (rows / 2) * lde);
}

void unfold_rows(int rows, int n, const float* even, long long lde, const float* odd, long long ldo,
                 float* t, long long ldt) {
  const int no = (rows - 1) / 2;
  copy_row(n, even, t);
  for (int j = 1; j <= no; ++j) {
    const float* a = even + j * lde;
    const float* b = odd + (j - 1) * ldo;
    row_op(n, a, b, t + j * ldt, [](vf x, vf y) { return x + y; });
    row_op(n, a, b, t + (rows - j) * ldt, [](vf x, vf y) { return x - y; });
  }
  if (rows % 2 == 0) copy_row(n, even + (rows / 2) * lde, t + (rows / 2) * ldt);
}

// Per (G out channels, S vectors of a block of 32 modes) the accumulators stay in registers while
// the in channels go by: each x vector loaded serves G out channels (with one, 8 loads per 8 FMAs:
// the loop waited on loads, and x, 73 KB at width 32, came from L2 once per out channel; AVX-512,
// width 32, 64x64: the mixing stage took 0.12-0.15 ms a run instead of 0.19-0.30). The weights
// are laid out per out channel in block order, so each of the G streams is read in order.
template <int G, int S>
void mix_group(int batch, int c, int o, int oc, long long modes, const float* x, const float* w,
               float* y) {
  constexpr int kB = wno::engine::kModeBlock, kV = kB / VL;  // native vectors per block
  constexpr int kAhead = 8;                                  // in channels prefetched ahead
  static_assert(kB % VL == 0 && kV % S == 0, "whole vectors per block and part");
  const long long blocks = modes / kB;
  for (long long b = 0; b < blocks; ++b) {
    const float* wb[G];
    for (int g = 0; g < G; ++g)
      wb[g] = w + ((static_cast<long long>(oc + g) * blocks + b) * c) * 2 * kB;
    for (int n = 0; n < batch; ++n) {
      const float* xn = x + static_cast<long long>(n) * c * 2 * modes + b * kB;
      for (int q0 = 0; q0 < kV; q0 += S) {
        vf re[G][S], im[G][S];
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
          for (int q = 0; q < S; ++q) re[g][q] = im[g][q] = vf{};
        for (int ic = 0; ic < c; ++ic) {
          // The weights stream from L3 or memory once a pass (2.4 MB a layer at 64x64, width 32,
          // 12x12 modes): ask for each out channel's 8 in channels ahead (past the block's end,
          // the next block's: contiguous), which the 4 streams' hardware prefetch did not
          // (mixing 0.78-0.91x the time at batch 1, one thread, Zen 5; 4 or 16 ahead: slower).
          if (q0 == 0 && n == 0)
            for (int g = 0; g < G; ++g)
              for (int l = 0; l < 2 * kB; l += 16)
                __builtin_prefetch(wb[g] + static_cast<long long>(ic + kAhead) * 2 * kB + l, 0, 3);
          const float* xr = xn + static_cast<long long>(ic) * 2 * modes + q0 * VL;
          const float* xi = xr + modes;
#pragma GCC unroll 16
          for (int q = 0; q < S; ++q) {
            const vf a = load(xr + q * VL), bi = load(xi + q * VL);
#pragma GCC unroll 16
            for (int g = 0; g < G; ++g) {
              const float* wr = wb[g] + static_cast<long long>(ic) * 2 * kB + q0 * VL;
              const vf u = load(wr + q * VL), v = load(wr + kB + q * VL);
              re[g][q] += a * u - bi * v;
              im[g][q] += a * v + bi * u;
            }
          }
        }
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g) {
          float* yr = y + ((static_cast<long long>(n) * o + oc + g) * 2) * modes + b * kB + q0 * VL;
#pragma GCC unroll 16
          for (int q = 0; q < S; ++q) {
            store(yr + q * VL, re[g][q]);
            store(yr + modes + q * VL, im[g][q]);
          }
        }
      }
    }
  }
}

// G out channels x S vectors: 2 G S accumulators, with the loads within the register file: 4 x 2
// on AVX-512 (16 of 32 registers; S = 2 is the whole block), 2 x 2 on AVX2 (8 of 16; half a
// block), 2 x 4 on NEON (16 of 32), 1 x 4 on SSE2; the out channels left over one at a time.
void mix(int batch, int c, int o, int o0, int o1, long long modes, const float* x, const float* w,
         float* y) {
#if defined(__x86_64__) && !defined(__AVX2__)
  constexpr int kG = 1, kS = 4;
#else
  constexpr int kG = kVecBytes == 64 ? 4 : 2, kS = kVecBytes == 16 ? 4 : 2;
#endif
  int oc = o0;
  for (; oc + kG <= o1; oc += kG) mix_group<kG, kS>(batch, c, o, oc, modes, x, w, y);
  for (; oc < o1; ++oc) mix_group<1, kS>(batch, c, o, oc, modes, x, w, y);
}

}  // namespace

const wno::engine::Kernels& kernels() {
  static const wno::engine::Kernels k{WNO_ENGINE_ISA_NAME,
                                      pack_b,
                                      gemm_packed,
                                      bias_act,
                                      act_dot,
                                      add_act,
                                      lift_row,
                                      fold,
                                      unfold,
                                      fold_rows,
                                      unfold_rows,
                                      mix};
  return k;
}

}  // namespace WNO_ENGINE_NS
