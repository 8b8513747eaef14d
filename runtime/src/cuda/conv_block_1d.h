// The CUDA kernel's 1-D path (desc.dims == 1: x N,C,W, weight K,C,3, y N,K,Wo): F(m, 3) on
// a line, __host__ __device__ like conv_block.h so the emulation runs the same code.
//
// A tile is a = m + 2 points, so the Winograd domain has P = a positions (not a^2) and one
// thread can keep all of them for its TK x TN (out channel, tile) register tile: the output
// transform then runs in registers and stores straight to y, with no row pass and no Zs
// staging. Per chunk of BC in channels:
//   load_line_chunk  item (cc, t): the tile's a inputs -> BT d into Vs[a][BC][BN], and the
//                    pre-transformed weights into Us[a][BC][BK]               | barrier
//   accumulate_line  thread (kq, tq): acc[j] += Us[j] . Vs[j] for every j < a | barrier
// then store_line: A^T along j in registers (a -> m), + bias, crop, store.
#pragma once

#include <stddef.h>

#include "../common/conv_shape.h"
#include "conv_block.h"
#include "wno/half.h"
#include "wno/winograd_transforms.h"

namespace wno {
namespace cuda {

// BN tiles, BK out channels, BC in channels per chunk, TK x TN register tile per thread.
// 128 threads per block (a 2-D block has a times more, one per row of the tile).
template <int M>
struct LineConfig {
  static constexpr int BN = 64, BK = 32, BC = M == 2 ? 16 : 8, TK = 4, TN = 4;
};

template <int M>
struct LineBlock : LineConfig<M> {
  using C = LineConfig<M>;
  static constexpr int A = M + 2, P = A;
  static constexpr int KQ = C::BK / C::TK, TQ = C::BN / C::TN;
  static constexpr int threads = KQ * TQ;
  static constexpr int v_floats = P * C::BC * C::BN;  // Vs[P][BC][BN]
  static constexpr int u_floats = P * C::BC * C::BK;  // Us[P][BC][BK]
  static constexpr int smem_floats = v_floats + u_floats;
  static_assert(smem_floats * 4 <= 48 * 1024, "static shared memory limit");
  static_assert(C::BK % C::TK == 0 && C::BN % C::TN == 0, "register tile must divide the block");
};

// Transformed weights U[P][C][kpad], out channel fastest, padded with zeros to a multiple of BK.
template <int M>
WNO_HD WNO_FORCE_INLINE int line_padded_out_channels(int k) {
  return (k + LineBlock<M>::BK - 1) / LineBlock<M>::BK * LineBlock<M>::BK;
}

inline int line_padded_k(const wno_conv_desc& d) {
  switch (d.tile) {
    case 2:
      return line_padded_out_channels<2>(d.out_channels);
    case 4:
      return line_padded_out_channels<4>(d.out_channels);
    default:
      return line_padded_out_channels<6>(d.out_channels);
  }
}

// Elements of kernel v1's transformed weights: P x C x padded K, P = a on a line, a^2 on a grid.
inline size_t weight_elems(const wno_conv_desc& d) {
  const size_t a = static_cast<size_t>(d.tile) + 2;
  const size_t c = static_cast<size_t>(d.in_channels);
  return d.dims == 1 ? a * c * line_padded_k(d) : a * a * c * padded_k(d);
}

template <int M>
struct LineState {
  float acc[M + 2][LineBlock<M>::TK][LineBlock<M>::TN];
};

// ---- weight transform: one thread per (out channel, in channel); p.weight is K, C, 3 --
template <int M, typename T>
WNO_HD WNO_FORCE_INLINE void transform_line_weight(const WeightParams<T>& p, int index) {
  constexpr int A = M + 2;
  const int k = index % p.kpad;
  const int c = index / p.kpad;
  float g[3], u[A];
  WNO_UNROLL for (int i = 0; i < 3; ++i)
    g[i] = k < p.k ? p.weight[(1LL * k * p.c + c) * 3 + i] : 0.f;
  Winograd<M>::weight_1d(g, 1, u, 1);
  WNO_UNROLL for (int q = 0; q < A; ++q)
    from_float(u[q], p.u[(1LL * q * p.c + c) * p.kpad + k]);
}

// ---- phases ---------------------------------------------------------------------------
template <int M, typename T>
WNO_HD WNO_FORCE_INLINE void load_line_chunk(const ConvParams<T>& p, int bx, int by, int c0,
                                             int tid, float* smem) {
  using B = LineBlock<M>;
  constexpr int A = B::A;
  float* Vs = smem;
  float* Us = smem + B::v_floats;
  const ConvShape& s = p.s;
  // Input: item (cc, t), t fastest: consecutive threads, consecutive tiles.
  for (int item = tid; item < B::BC * B::BN; item += B::threads) {
    const int t = item % B::BN, cc = item / B::BN;
    const int c = c0 + cc;
    const long long tile = 1LL * bx * B::BN + t;
    float d[A];
    if (c < s.c && tile < s.tiles) {
      const int n = static_cast<int>(tile / s.tw), x0 = static_cast<int>(tile % s.tw) * M - s.pad;
      const T* src = p.x + (1LL * n * s.c + c) * s.w;
      WNO_UNROLL for (int j = 0; j < A; ++j) {
        const int xx = x0 + j;
        d[j] = xx >= 0 && xx < s.w ? to_float(src[xx]) : 0.f;
      }
    } else {
      WNO_UNROLL for (int j = 0; j < A; ++j)
        d[j] = 0.f;
    }
    Winograd<M>::input_1d(d, 1, d, 1);  // BT d, the whole input transform of a line
    WNO_UNROLL for (int j = 0; j < A; ++j)
      Vs[(j * B::BC + cc) * B::BN + t] = d[j];
  }
  // Weights: item (q, cc, kk), kk fastest: coalesced rows of U.
  for (int item = tid; item < B::P * B::BC * B::BK; item += B::threads) {
    const int kk = item % B::BK, cc = (item / B::BK) % B::BC, q = item / (B::BK * B::BC);
    const int c = c0 + cc;
    Us[item] = c < s.c ? to_float(p.u[(1LL * q * s.c + c) * p.kpad + by * B::BK + kk]) : 0.f;
  }
}

template <int M>
WNO_HD WNO_FORCE_INLINE void accumulate_line(int tid, const float* smem, LineState<M>& st) {
  using B = LineBlock<M>;
  constexpr int A = B::A, TK = B::TK, TN = B::TN;
  const int kq = tid / B::TQ, tq = tid % B::TQ;
  const float* Vs = smem;
  const float* Us = smem + B::v_floats;
  for (int cc = 0; cc < B::BC; ++cc) {
    WNO_UNROLL for (int j = 0; j < A; ++j) {
      const int q = j * B::BC + cc;
      float u[TK], v[TN];
      load_regs<TK>(Us + q * B::BK + kq * TK, u);
      load_regs<TN>(Vs + q * B::BN + tq * TN, v);
      WNO_UNROLL for (int a = 0; a < TK; ++a) {
        WNO_UNROLL for (int b = 0; b < TN; ++b)
          st.acc[j][a][b] += u[a] * v[b];
      }
    }
  }
}

// A^T along the a positions in registers, then m outputs per (out channel, tile) to y.
template <int M, typename T>
WNO_HD WNO_FORCE_INLINE void store_line(const ConvParams<T>& p, int bx, int by, int tid,
                                        LineState<M>& st) {
  using B = LineBlock<M>;
  constexpr int TK = B::TK, TN = B::TN, stride = TK * TN;
  const ConvShape& s = p.s;
  const int kq = tid / B::TQ, tq = tid % B::TQ;
  WNO_UNROLL for (int a = 0; a < TK; ++a) {
    const int k = by * B::BK + kq * TK + a;
    if (k >= s.k) break;
    const float bias = p.bias ? p.bias[k] : 0.f;
    WNO_UNROLL for (int b = 0; b < TN; ++b) {
      const long long tile = 1LL * bx * B::BN + tq * TN + b;
      if (tile >= s.tiles) break;
      float* z = &st.acc[0][a][b];
      Winograd<M>::output_1d(z, stride, z, stride);
      const int n = static_cast<int>(tile / s.tw), x0 = static_cast<int>(tile % s.tw) * M;
      T* dst = p.y + (1LL * n * s.k + k) * s.wo + x0;
      WNO_UNROLL for (int r = 0; r < M; ++r)
        if (x0 + r < s.wo) from_float(st.acc[r][a][b] + bias, dst[r]);
    }
  }
}

// ---- the schedule, the same on the GPU and in the emulation --------------------------
template <int M, typename T, typename Runner>
WNO_HD WNO_FORCE_INLINE void conv_line_block(Runner& run, const ConvParams<T>& p, int bx, int by,
                                             float* smem) {
  for (int c0 = 0; c0 < p.s.c; c0 += LineBlock<M>::BC) {
    run.phase([&](int tid, LineState<M>&) { load_line_chunk<M>(p, bx, by, c0, tid, smem); });
    run.phase([&](int tid, LineState<M>& st) { accumulate_line<M>(tid, smem, st); });
  }
  run.phase([&](int tid, LineState<M>& st) { store_line<M>(p, bx, by, tid, st); });
}

}  // namespace cuda
}  // namespace wno
