// The CUDA Winograd kernel's per-block code, __host__ __device__ so that g++ runs the
// very same code over an emulated grid in the tests (emulate_grid.cpp).
//
// One thread block computes BN tiles x BK out channels (tiles take the place of the
// batch, so batch-1 operator layers still fill the GPU). Per chunk of BC in channels:
//   load_chunk      input patch columns -> BT . d (column pass) into Vs, and the
//                   pre-transformed weights into Us                      | barrier
//   transform_rows  row pass in place: Vs = BT d B                      | barrier
//   accumulate      thread (i, kq, tq) keeps the a positions (i, 0..a) of a TK x TN
//                   (out channel, tile) register tile: acc += Us . Vs    | barrier
// then, after all chunks, the output transform without a full shared-memory transpose:
//   finish_rows     each thread applies A along its own row i in registers (a -> m)
//   write_z         and stages S of the m columns in Zs (aliases Vs/Us) | barrier
//   store_outputs   thread per (k, tile, column): AT along the column, + bias, crop,
//                   store                                                | barrier
// repeated for the m / S column passes. A kernel is a sequence of phases separated by
// barriers; a Runner decides how a phase runs: every CUDA thread once, then
// __syncthreads (winograd_cuda.cu), or a loop over the block's threads (emulation).
#pragma once

#include "../common/conv_shape.h"
#include "wno/half.h"
#include "wno/winograd_tile.h"

namespace wno {
namespace cuda {

template <int M>
struct BlockConfig;
// BN tiles, BK out channels, BC in channels per chunk, TK x TN register tile per
// thread and position, S output columns per epilogue pass. Shared memory stays under
// the 48 KiB static limit of every target; threads * registers fit one SM.
template <>
struct BlockConfig<2> {
  static constexpr int BN = 32, BK = 32, BC = 8, TK = 4, TN = 4, S = 2;
};
template <>
struct BlockConfig<4> {
  static constexpr int BN = 32, BK = 16, BC = 4, TK = 4, TN = 4, S = 2;
};
template <>
struct BlockConfig<6> {
  static constexpr int BN = 32, BK = 16, BC = 2, TK = 4, TN = 4, S = 2;
};

template <int M>
struct Block : BlockConfig<M> {
  using C = BlockConfig<M>;
  static constexpr int A = M + 2, P = A * A;
  static constexpr int KQ = C::BK / C::TK, TQ = C::BN / C::TN;
  static constexpr int threads = A * KQ * TQ;
  static constexpr int v_floats = P * C::BC * C::BN;         // Vs[P][BC][BN]
  static constexpr int u_floats = P * C::BC * C::BK;         // Us[P][BC][BK]
  static constexpr int z_floats = A * C::S * C::BK * C::BN;  // Zs[A][S][BK][BN]
  static constexpr int smem_floats =
      v_floats + u_floats > z_floats ? v_floats + u_floats : z_floats;
  static constexpr int passes = (M + C::S - 1) / C::S;
  static_assert(smem_floats * 4 <= 48 * 1024, "static shared memory limit");
  static_assert(C::BK % C::TK == 0 && C::BN % C::TN == 0, "register tile must divide the block");
};

// Weights after the transform: U[P][C][kpad] (out channel fastest, padded with zeros to
// a multiple of BK so blocks load whole rows).
template <int M>
WNO_HD WNO_FORCE_INLINE int padded_out_channels(int k) {
  return (k + Block<M>::BK - 1) / Block<M>::BK * Block<M>::BK;
}

// The same for a descriptor's tile (the host sizes the transformed weights with it).
inline int padded_k(const wno_conv_desc& d) {
  switch (d.tile) {
    case 2:
      return padded_out_channels<2>(d.out_channels);
    case 4:
      return padded_out_channels<4>(d.out_channels);
    default:
      return padded_out_channels<6>(d.out_channels);
  }
}

template <typename T>
struct ConvParams {
  const T* x;         // N, C, H, W
  const T* u;         // transformed weights
  const float* bias;  // K or null
  T* y;               // N, K, Ho, Wo
  ConvShape s;
  int kpad;
};

template <typename T>
struct WeightParams {
  const float* weight;  // K, C, 3, 3
  T* u;
  int k, c, kpad;
};

template <int M>
struct ThreadState {
  float acc[M + 2][Block<M>::TK][Block<M>::TN];
};

struct TileOrigin {
  int n, ty, tx;
};

// 32-bit arithmetic: valid_desc keeps every tensor, so the tile count, below 2^31.
WNO_HD WNO_FORCE_INLINE TileOrigin tile_origin(const ConvShape& s, int tile) {
  const int per_image = s.th * s.tw;
  const int r = tile % per_image;
  return TileOrigin{tile / per_image, r / s.tw, r % s.tw};
}

// ---- weight transform: one thread per (out channel, in channel) ----------------------
template <int M, typename T>
WNO_HD WNO_FORCE_INLINE void transform_weight(const WeightParams<T>& p, int index) {
  constexpr int P = Block<M>::P;
  const int k = static_cast<int>(index % p.kpad);
  const int c = static_cast<int>(index / p.kpad);
  float g[9], u[P];
  WNO_UNROLL for (int i = 0; i < 9; ++i)
    g[i] = k < p.k ? p.weight[(1LL * k * p.c + c) * 9 + i] : 0.f;
  weight_tile<M>(g, u);
  WNO_UNROLL for (int q = 0; q < P; ++q)
    from_float(u[q], p.u[(1LL * q * p.c + c) * p.kpad + k]);
}

// ---- phases of the conv kernel -------------------------------------------------------
template <int M, typename T>
WNO_HD WNO_FORCE_INLINE void load_chunk(const ConvParams<T>& p, int bx, int by, int c0, int tid,
                                        float* smem) {
  using B = Block<M>;
  constexpr int A = B::A;
  float* Vs = smem;
  float* Us = smem + B::v_floats;
  const ConvShape& s = p.s;
  // Input: item (cc, j, t), t fastest: consecutive threads, consecutive tiles.
  for (int item = tid; item < B::BC * A * B::BN; item += B::threads) {
    const int t = item % B::BN, j = (item / B::BN) % A, cc = item / (B::BN * A);
    const int c = c0 + cc;
    const int tile = bx * B::BN + t;
    float col[A];
    if (c < s.c && tile < s.tiles) {
      const TileOrigin o = tile_origin(s, tile);
      const int y0 = o.ty * M - s.pad, xx = o.tx * M - s.pad + j;
      const T* src = p.x + (1LL * o.n * s.c + c) * s.h * s.w;
      const bool x_in = xx >= 0 && xx < s.w;
      WNO_UNROLL for (int i = 0; i < A; ++i) {
        const int yy = y0 + i;
        col[i] = x_in && yy >= 0 && yy < s.h ? to_float(src[1LL * yy * s.w + xx]) : 0.f;
      }
    } else {
      WNO_UNROLL for (int i = 0; i < A; ++i)
        col[i] = 0.f;
    }
    Winograd<M>::input_1d(col, 1, col, 1);  // column pass: (BT d)[i][j]
    WNO_UNROLL for (int i = 0; i < A; ++i)
      Vs[((i * A + j) * B::BC + cc) * B::BN + t] = col[i];
  }
  // Weights: item (q, cc, kk), kk fastest: coalesced rows of U.
  for (int item = tid; item < B::P * B::BC * B::BK; item += B::threads) {
    const int kk = item % B::BK, cc = (item / B::BK) % B::BC, q = item / (B::BK * B::BC);
    const int c = c0 + cc;
    Us[item] = c < s.c ? to_float(p.u[(1LL * q * s.c + c) * p.kpad + by * B::BK + kk]) : 0.f;
  }
}

template <int M>
WNO_HD WNO_FORCE_INLINE void transform_rows(int tid, float* smem) {
  using B = Block<M>;
  constexpr int A = B::A;
  for (int item = tid; item < B::BC * A * B::BN; item += B::threads) {
    const int t = item % B::BN, i = (item / B::BN) % A, cc = item / (B::BN * A);
    float* v = smem + (i * A * B::BC + cc) * B::BN + t;  // position (i, 0)
    constexpr int stride = B::BC * B::BN;                // to position (i, j + 1)
    Winograd<M>::input_1d(v, stride, v, stride);         // row pass, in place
  }
}

template <int N>
WNO_HD WNO_FORCE_INLINE void load_regs(const float* src, float* dst) {
#if defined(__CUDA_ARCH__)
  if constexpr (N == 4) {  // one 128-bit shared load: offsets are multiples of 4
    const float4 v = *reinterpret_cast<const float4*>(src);
    dst[0] = v.x;
    dst[1] = v.y;
    dst[2] = v.z;
    dst[3] = v.w;
  } else
#endif
  {
    WNO_UNROLL for (int i = 0; i < N; ++i)
      dst[i] = src[i];
  }
}

template <int M>
WNO_HD WNO_FORCE_INLINE void accumulate(int tid, const float* smem, ThreadState<M>& st) {
  using B = Block<M>;
  constexpr int A = B::A, TK = B::TK, TN = B::TN;
  const int i = tid / (B::KQ * B::TQ), kq = (tid / B::TQ) % B::KQ, tq = tid % B::TQ;
  const float* Vs = smem;
  const float* Us = smem + B::v_floats;
  for (int cc = 0; cc < B::BC; ++cc) {
    WNO_UNROLL for (int j = 0; j < A; ++j) {
      const int q = (i * A + j) * B::BC + cc;
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

// Row i of A^T M A's inner product: acc[0..m) = A^T applied along j, in registers.
template <int M>
WNO_HD WNO_FORCE_INLINE void finish_rows(ThreadState<M>& st) {
  constexpr int TK = Block<M>::TK, TN = Block<M>::TN, stride = TK * TN;
  WNO_UNROLL for (int a = 0; a < TK; ++a) {
    WNO_UNROLL for (int b = 0; b < TN; ++b) {
      float* row = &st.acc[0][a][b];
      Winograd<M>::output_1d(row, stride, row, stride);
    }
  }
}

template <int M, int PASS>
WNO_HD WNO_FORCE_INLINE void write_z(int tid, const ThreadState<M>& st, float* smem) {
  using B = Block<M>;
  const int i = tid / (B::KQ * B::TQ), kq = (tid / B::TQ) % B::KQ, tq = tid % B::TQ;
  WNO_UNROLL for (int s = 0; s < B::S; ++s) {
    if (PASS * B::S + s >= M) break;
    WNO_UNROLL for (int a = 0; a < B::TK; ++a) {
      WNO_UNROLL for (int b = 0; b < B::TN; ++b)
        smem[((i * B::S + s) * B::BK + kq * B::TK + a) * B::BN + tq * B::TN + b] =
            st.acc[PASS * B::S + s][a][b];
    }
  }
}

template <int M, typename T>
WNO_HD WNO_FORCE_INLINE void store_outputs(const ConvParams<T>& p, int bx, int by, int tid,
                                           const float* smem, int col0) {
  using B = Block<M>;
  constexpr int A = B::A;
  const ConvShape& s = p.s;
  for (int item = tid; item < B::S * B::BK * B::BN; item += B::threads) {
    const int t = item % B::BN, kk = (item / B::BN) % B::BK, sc = item / (B::BN * B::BK);
    const int k = by * B::BK + kk, col = col0 + sc;
    const int tile = bx * B::BN + t;
    if (k >= s.k || tile >= s.tiles || col >= M) continue;
    const TileOrigin o = tile_origin(s, tile);
    const int ox = o.tx * M + col;
    if (ox >= s.wo) continue;
    float z[A];
    WNO_UNROLL for (int i = 0; i < A; ++i)
      z[i] = smem[((i * B::S + sc) * B::BK + kk) * B::BN + t];
    Winograd<M>::output_1d(z, 1, z, 1);  // column pass: z[0..m) = output column col
    const float bias = p.bias ? p.bias[k] : 0.f;
    T* dst = p.y + ((1LL * o.n * s.k + k) * s.ho + o.ty * M) * s.wo + ox;
    WNO_UNROLL for (int r = 0; r < M; ++r)
      if (o.ty * M + r < s.ho) from_float(z[r] + bias, dst[1LL * r * s.wo]);
  }
}

// ---- the schedule: the same sequence of phases on the GPU and in the emulation -------
template <int M, int PASS, typename T, typename Runner>
WNO_HD WNO_FORCE_INLINE void output_passes(Runner& run, const ConvParams<T>& p, int bx, int by,
                                           float* smem) {
  run.phase([&](int tid, ThreadState<M>& st) {
    if (PASS == 0) finish_rows<M>(st);
    write_z<M, PASS>(tid, st, smem);
  });
  run.phase([&](int tid, ThreadState<M>&) {
    store_outputs<M>(p, bx, by, tid, smem, PASS * Block<M>::S);
  });
  if constexpr (PASS + 1 < Block<M>::passes) output_passes<M, PASS + 1>(run, p, bx, by, smem);
}

template <int M, typename T, typename Runner>
WNO_HD WNO_FORCE_INLINE void conv_block(Runner& run, const ConvParams<T>& p, int bx, int by,
                                        float* smem) {
  for (int c0 = 0; c0 < p.s.c; c0 += Block<M>::BC) {
    run.phase([&](int tid, ThreadState<M>&) { load_chunk<M>(p, bx, by, c0, tid, smem); });
    run.phase([&](int tid, ThreadState<M>&) { transform_rows<M>(tid, smem); });
    run.phase([&](int tid, ThreadState<M>& st) { accumulate<M>(tid, smem, st); });
  }
  output_passes<M, 0>(run, p, bx, by, smem);
}

}  // namespace cuda
}  // namespace wno
