// Kernel v2: the Winograd-domain batched GEMM on tensor cores (mma.sync), with the input
// and output transforms fused around it. __host__ __device__ like conv_block.h: the host
// emulation (emulate_grid_v2.h) runs this code, warp-level MMA included (mma.h's model).
//
// Per Winograd position q the layer is a GEMM  Z_q[K x tiles] = U_q[K x C] . V_q[C x tiles].
// One thread block owns BN = 8 tiles (the MMA's N) and BK = 16 MF out channels (MF 16-row
// MMA blocks, the MMA's M; MF = 4 or 2, chosen per layer by row_blocks_for): every input
// tile a block loads is transformed once and used for all of its out channels, so layers
// with K <= BK transform each input tile once.
// Warp w owns positions w, w + W, w + 2W, ... and keeps their 16 x 8 accumulators in
// registers for the whole channel loop. Per chunk of BC in channels (one MMA k step):
//   prefetch   (threads) the next chunk's input columns, global -> registers
//   mma        (warps)   Z_q += U_q . V_q on the chunk in Vmma; U comes straight from
//                        global memory, pre-packed in fragment order: one 16-byte load
//                        per lane, 512 contiguous bytes per warp
//   columns    (threads) column pass of the prefetched columns -> Vtmp     | barrier
//   rows       (threads) row pass Vtmp -> Vmma in the MMA's operand type   | barrier
// so the global loads of chunk c + 1 are in flight while the tensor cores run chunk c
// (register double buffering: Vtmp and Vmma are the two stages). The epilogue stages
// the accumulators in shared memory (ZF row blocks at a time, aliasing Vtmp/Vmma) and one
// thread per (out channel, tile) applies A^T . A, adds the bias and stores.
//
// fp16 storage: fp16 operands, fp32 accumulation. The transformed weights of position
// (i, j) are stored times s_i s_j, a power of two that brings the row sums of |G| to
// [0.5, 1): F(6,3)'s small G coefficients stay normal fp16 numbers; the epilogue divides
// by s_i s_j again (exact). fp32 storage: TF32 or 3xTF32 (split) operands, sm_80+.
#pragma once

#include "../common/conv_shape.h"
#include "mma.h"
#include "wno/winograd_tile.h"

namespace wno {
namespace cuda {
namespace v2 {

// Out channels per block: MF 16-row MMA blocks (the MMA's M). MF = 4 (64 channels)
// transforms each input tile once for K <= 64; MF = 2 (32 channels) keeps half the
// accumulators, so more blocks stay resident, and doubles the grid of a small layer.
// W: warps per block; ZF: MMA row blocks per epilogue pass; min_blocks: resident blocks
// that __launch_bounds__ asks the register allocator for (more would spill).
template <int M, int MF>
struct Warps;
template <>
struct Warps<2, 4> {
  static constexpr int W = 4, ZF = 4, min_blocks = 3;  // 4 would spill on sm_90
};
template <>
struct Warps<2, 2> {
  static constexpr int W = 4, ZF = 2, min_blocks = 4;
};
template <>
struct Warps<4, 4> {
  static constexpr int W = 12, ZF = 2, min_blocks = 1;  // 2 would spill (80 registers)
};
template <>
struct Warps<4, 2> {
  static constexpr int W = 12, ZF = 2, min_blocks = 2;
};
template <>
struct Warps<6, 4> {
  static constexpr int W = 16, ZF = 1, min_blocks = 1;
};
template <>
struct Warps<6, 2> {
  static constexpr int W = 16, ZF = 1, min_blocks = 1;
};

constexpr int kMaxPositions = 64;
constexpr int kTilesPerBlock = 8;  // the MMA's N

template <int M, class Math, int MF_>
struct Block {
  using Elem = typename Math::Elem;
  static constexpr int A = M + 2, P = A * A;
  static constexpr int BN = kTilesPerBlock;
  static constexpr int MF = MF_;      // 16-row MMA blocks of out channels per block
  static constexpr int BK = 16 * MF;  // out channels per block
  static constexpr int W = Warps<M, MF>::W, threads = 32 * W;
  static constexpr int min_blocks = Warps<M, MF>::min_blocks;  // __launch_bounds__: registers
  static constexpr int QW = (P + W - 1) / W;                   // positions per warp
  static constexpr int BC = Math::K;          // in channels per chunk: one MMA k step
  static constexpr int VS = BC + Math::pad;   // Vmma row stride: conflict-free fragment loads
  static constexpr int items = BC * BN * A;   // input columns per chunk
  static constexpr int IT = items / threads;  // ... per thread
  static constexpr int ZF = Warps<M, MF>::ZF, passes = MF / ZF;
  // Shared memory, bytes: tile table | Vtmp (fp32) + Vmma, or Zs in the epilogue.
  static constexpr int table_bytes = 4 * BN * 4;
  static constexpr int vtmp_floats = P * BC * BN;
  static constexpr int vmma_bytes = P * BN * VS * static_cast<int>(sizeof(Elem));
  static constexpr int main_bytes = vtmp_floats * 4 + vmma_bytes;
  static constexpr int z_floats = P * 16 * ZF * BN;
  static constexpr int smem_bytes =
      table_bytes + (main_bytes > z_floats * 4 ? main_bytes : z_floats * 4);
  static_assert(items % threads == 0, "whole input items per thread");
  static_assert(MF % ZF == 0, "whole epilogue passes");
  static_assert(P <= kMaxPositions, "position scale table");
  static_assert(smem_bytes <= 64 * 1024, "dynamic shared memory of every target (sm_75: 64 KiB)");
};

// MF for a layer on a GPU with `sms` SMs: 2 where K <= 32 (no input transform is repeated,
// and half the accumulators let more blocks stay resident) or where MF = 4 would leave SMs
// without a block (a small batch-1 layer: twice the blocks for twice the input transforms);
// else 4. `force` (32 or 64 out channels per block) overrides it; any other value is ignored.
WNO_HD inline int row_blocks_for(long long tiles, int kblocks, int sms, int force = 0) {
  if (force == 32 || force == 64) return force / 16;
  if (kblocks <= 2) return 2;
  const long long grid4 = (tiles + kTilesPerBlock - 1) / kTilesPerBlock * ((kblocks + 3) / 4);
  return grid4 < sms ? 2 : 4;
}

// Transformed weights: U[q][c chunk][16-channel block][lane][AE], each lane's A fragment
// of one MMA contiguous (kpad = K rounded up to 16, cpad = C rounded up to BC).
template <class Math>
WNO_HD WNO_FORCE_INLINE long long weight_elems(const ConvShape& s) {
  const long long kblocks = (s.k + 15) / 16, cpad = (s.c + Math::K - 1) / Math::K * Math::K;
  return 1LL * (s.m + 2) * (s.m + 2) * cpad * kblocks * 16;
}

// Power-of-two scale of row i of G for fp16 U: sum_j |G[i][j]| * scale in [0.5, 1).
template <int M>
WNO_HD WNO_FORCE_INLINE float g_row_scale(int i) {
  constexpr int A = M + 2;
  float sum = 0.f;
  for (int j = 0; j < 3; ++j) {
    float e[3] = {0.f, 0.f, 0.f}, col[A];
    e[j] = 1.f;
    Winograd<M>::weight_1d(e, 1, col, 1);
    sum += col[i] < 0.f ? -col[i] : col[i];
  }
  float s = 1.f;
  while (sum * s >= 1.f) s *= 0.5f;
  while (sum * s < 0.5f) s *= 2.f;
  return s;
}

template <typename T>
struct ConvParams {
  const T* x;         // N, C, H, W
  const T* u;         // packed transformed weights
  const float* bias;  // K or null
  T* y;               // N, K, Ho, Wo
  ConvShape s;
  int kblocks, cchunks;            // out-channel MMA blocks, in-channel chunks
  float inv_scale[kMaxPositions];  // 1 / (s_i s_j) per position (fp16), else 1
};

template <int M, class Math, typename T>
WNO_HD inline ConvParams<T> make_params(const wno_conv_desc& d, const void* x, const void* u,
                                        const float* bias, void* y) {
  ConvParams<T> p{};
  p.x = static_cast<const T*>(x);
  p.u = static_cast<const T*>(u);
  p.bias = bias;
  p.y = static_cast<T*>(y);
  p.s = ConvShape::from(d);
  p.kblocks = (p.s.k + 15) / 16;
  p.cchunks = (p.s.c + Math::K - 1) / Math::K;
  constexpr int A = M + 2;
  for (int q = 0; q < A * A; ++q)
    p.inv_scale[q] = Math::K == 16 ? 1.f / (g_row_scale<M>(q / A) * g_row_scale<M>(q % A)) : 1.f;
  return p;
}

template <typename T>
struct WeightParams {
  const float* weight;  // K, C, 3, 3
  T* u;
  int k, c, kpad, cpad, kblocks, cchunks;
};

// One thread per (out channel < kpad, in channel < cpad): U = G g G^T, each element to
// its place in an A fragment (the inverse of mma.h's A table).
template <int M, class Math, typename T>
WNO_HD WNO_FORCE_INLINE void transform_weight(const WeightParams<T>& p, int index) {
  constexpr int A = M + 2, P = A * A;
  const int k = index % p.kpad, c = index / p.kpad;
  float g[9], u[P];
  const bool real = k < p.k && c < p.c;
  WNO_UNROLL for (int i = 0; i < 9; ++i)
    g[i] = real ? p.weight[(1LL * k * p.c + c) * 9 + i] : 0.f;
  weight_tile<M>(g, u);
  const int kb = k / 16, r = k % 16, cch = c / Math::K, cc = c % Math::K;
  const int gid = r % 8, rhi = r / 8;
  int lane, e;
  if constexpr (Math::K == 16) {
    lane = gid * 4 + (cc % 8) / 2;
    e = (cc / 8) * 4 + rhi * 2 + cc % 2;
  } else {
    lane = gid * 4 + cc % 4;
    e = (cc / 4) * 2 + rhi;
  }
  WNO_UNROLL for (int q = 0; q < P; ++q) {
    const float scale = Math::K == 16 ? g_row_scale<M>(q / A) * g_row_scale<M>(q % A) : 1.f;
    const long long at =
        (((1LL * q * p.cchunks + cch) * p.kblocks + kb) * 32 + lane) * Math::AE + e;
    from_float(u[q] * scale, p.u[at]);
  }
}

template <int M, class Math, int MF>
struct ThreadState {
  using B = Block<M, Math, MF>;
  float acc[B::QW][B::MF][4];  // C fragments: positions x out-channel blocks
  float pre[B::IT][B::A];      // prefetched input columns of the next chunk
};

// Tile table in shared memory: x offset of the image (-1: no tile), y offset, origin.
struct TileTable {
  int* xbase;
  int* ybase;
  int* oy;
  int* ox;
  WNO_HD explicit TileTable(unsigned char* smem, int bn)
      : xbase(reinterpret_cast<int*>(smem)), ybase(xbase + bn), oy(ybase + bn), ox(oy + bn) {}
};

template <int M, class Math, int MF, typename T>
WNO_HD WNO_FORCE_INLINE void fill_table(const ConvParams<T>& p, int bx, int tid,
                                        unsigned char* smem) {
  using B = Block<M, Math, MF>;
  if (tid >= B::BN) return;
  TileTable tt(smem, B::BN);
  const ConvShape& s = p.s;
  const long long tile = 1LL * bx * B::BN + tid;
  if (tile >= s.tiles) {
    tt.xbase[tid] = -1;
    tt.ybase[tid] = tt.oy[tid] = tt.ox[tid] = 0;
    return;
  }
  const int per_image = s.th * s.tw, t = static_cast<int>(tile);  // divisions once per block
  const int n = t / per_image, r = t % per_image;
  tt.xbase[tid] = n * s.c * s.h * s.w;  // < 2^31: valid_desc
  tt.ybase[tid] = n * s.k * s.ho * s.wo;
  tt.oy[tid] = (r / s.tw) * M;
  tt.ox[tid] = (r % s.tw) * M;
}

// Global -> registers: item (cc, t, j), j fastest, so a warp reads runs of neighbouring
// columns of one row (coalesced); constant divisors only.
template <int M, class Math, int MF, typename T>
WNO_HD WNO_FORCE_INLINE void prefetch(const ConvParams<T>& p, int c0, int tid, unsigned char* smem,
                                      ThreadState<M, Math, MF>& st) {
  using B = Block<M, Math, MF>;
  constexpr int A = B::A;
  const ConvShape& s = p.s;
  const TileTable tt(smem, B::BN);
  WNO_UNROLL for (int r = 0; r < B::IT; ++r) {
    const int item = tid + r * B::threads;
    const int j = item % A, t = (item / A) % B::BN, c = c0 + item / (A * B::BN);
    const int xb = tt.xbase[t];
    const int y0 = tt.oy[t] - s.pad, xx = tt.ox[t] - s.pad + j;
    const bool col_in = xb >= 0 && c < s.c && xx >= 0 && xx < s.w;
    const long long at = col_in ? xb + (1LL * c * s.h + y0) * s.w + xx : 0;
    WNO_UNROLL for (int i = 0; i < A; ++i) {
      const int yy = y0 + i;
      st.pre[r][i] = col_in && yy >= 0 && yy < s.h ? to_float(p.x[at + 1LL * i * s.w]) : 0.f;
    }
  }
}

template <int M, class Math, int MF>
WNO_HD WNO_FORCE_INLINE float* vtmp(unsigned char* smem) {
  return reinterpret_cast<float*>(smem + Block<M, Math, MF>::table_bytes);
}
template <int M, class Math, int MF>
WNO_HD WNO_FORCE_INLINE typename Math::Elem* vmma(unsigned char* smem) {
  using B = Block<M, Math, MF>;
  return reinterpret_cast<typename Math::Elem*>(smem + B::table_bytes + B::vtmp_floats * 4);
}

// Column pass of the prefetched columns: Vtmp[i][j][cc][t] = (BT d)[i][j].
template <int M, class Math, int MF>
WNO_HD WNO_FORCE_INLINE void store_columns(int tid, unsigned char* smem,
                                           ThreadState<M, Math, MF>& st) {
  using B = Block<M, Math, MF>;
  constexpr int A = B::A;
  float* Vt = vtmp<M, Math, MF>(smem);
  WNO_UNROLL for (int r = 0; r < B::IT; ++r) {
    const int item = tid + r * B::threads;
    const int j = item % A, t = (item / A) % B::BN, cc = item / (A * B::BN);
    float col[A];
    Winograd<M>::input_1d(st.pre[r], 1, col, 1);
    WNO_UNROLL for (int i = 0; i < A; ++i)
      Vt[((i * A + j) * B::BC + cc) * B::BN + t] = col[i];
  }
}

// Second pass of the input transform, Vtmp -> Vmma[q][t][cc] in the operand type: item
// (cc, o, t), t fastest, transforms the positions q = o * outer + e * inner, e < A. Rows
// (outer A, inner 1) after a column pass, columns (outer 1, inner A) after a row pass.
template <int M, class Math, int MF, int outer, int inner>
WNO_HD WNO_FORCE_INLINE void finish_input_transform(int tid, unsigned char* smem) {
  using B = Block<M, Math, MF>;
  constexpr int A = B::A;
  const float* Vt = vtmp<M, Math, MF>(smem);
  typename Math::Elem* Vm = vmma<M, Math, MF>(smem);
  WNO_UNROLL for (int r = 0; r < B::IT; ++r) {
    const int item = tid + r * B::threads;
    const int t = item % B::BN, q0 = (item / B::BN) % A * outer, cc = item / (B::BN * A);
    float v[A];
    constexpr int stride = inner * B::BC * B::BN;  // position q -> q + inner
    Winograd<M>::input_1d(Vt + (q0 * B::BC + cc) * B::BN + t, stride, v, 1);
    WNO_UNROLL for (int e = 0; e < A; ++e)
      from_float(v[e], Vm[((q0 + e * inner) * B::BN + t) * B::VS + cc]);
  }
}

// Shared memory -> registers, 4 bytes at a time where the pair is 4-byte aligned.
template <int N, typename E>
WNO_HD WNO_FORCE_INLINE void load_shared(const E* src, E* dst) {
#if defined(__CUDA_ARCH__)
  if constexpr (N * sizeof(E) == 4) {
    *reinterpret_cast<unsigned*>(dst) = *reinterpret_cast<const unsigned*>(src);
  } else
#endif
  {
    WNO_UNROLL for (int i = 0; i < N; ++i)
      dst[i] = src[i];
  }
}

// Global (read-only) -> registers: one 16- or 8-byte load per lane.
template <int N, typename E>
WNO_HD WNO_FORCE_INLINE void load_frag(const E* src, E* dst) {
#if defined(__CUDA_ARCH__)
  if constexpr (N * sizeof(E) == 16) {
    *reinterpret_cast<uint4*>(dst) = __ldg(reinterpret_cast<const uint4*>(src));
  } else if constexpr (N * sizeof(E) == 8) {
    *reinterpret_cast<uint2*>(dst) = __ldg(reinterpret_cast<const uint2*>(src));
  } else
#endif
  {
    WNO_UNROLL for (int i = 0; i < N; ++i)
      dst[i] = src[i];
  }
}

// Split an fp32 fragment into tf32 big and small parts (3xTF32) or round it (TF32).
template <class Math, int N>
WNO_HD WNO_FORCE_INLINE void split_tf32(float (&x)[N], float (&lo)[N]) {
  WNO_UNROLL for (int i = 0; i < N; ++i) {
    const float hi = round_tf32(x[i]);
    lo[i] = Math::split ? round_tf32(x[i] - hi) : 0.f;
    x[i] = hi;
  }
}

// The warp's MMAs on the chunk in Vmma: Z_q += U_q[kb, chunk] . V_q[chunk, tiles].
template <int M, class Math, int MF, typename T, class Warp>
WNO_HD WNO_FORCE_INLINE void mma_chunk(const ConvParams<T>& p, int by, int chunk, int warp, Warp& w,
                                       unsigned char* smem) {
  using B = Block<M, Math, MF>;
  constexpr int L = Warp::L;
  const typename Math::Elem* Vm = vmma<M, Math, MF>(smem);
  WNO_UNROLL for (int qi = 0; qi < B::QW; ++qi) {
    const int q = warp + qi * B::W;
    if (q >= B::P) break;  // warp-uniform
    FragB<Math> b[L], bl[L];
    WNO_UNROLL for (int s = 0; s < L; ++s) {
      const int lane = w.lane(s), g = lane >> 2, t = lane & 3;
      const typename Math::Elem* row = Vm + (q * B::BN + g) * B::VS;
      if constexpr (Math::K == 16) {
        load_shared<2>(row + 2 * t, b[s].e);
        load_shared<2>(row + 2 * t + 8, b[s].e + 2);
      } else {
        b[s].e[0] = row[t];
        b[s].e[1] = row[t + 4];
        split_tf32<Math>(b[s].e, bl[s].e);
      }
    }
    WNO_UNROLL for (int mf = 0; mf < B::MF; ++mf) {
      const int kb = by * B::MF + mf;
      if (kb >= p.kblocks) break;  // K padded to 16 only
      const T* src = p.u + ((1LL * q * p.cchunks + chunk) * p.kblocks + kb) * 32 * Math::AE;
      FragA<Math> a[L], al[L];
      float* d[L];
      WNO_UNROLL for (int s = 0; s < L; ++s) {
        load_frag<Math::AE>(src + w.lane(s) * Math::AE, a[s].e);
        if constexpr (Math::K == 8) split_tf32<Math>(a[s].e, al[s].e);
        d[s] = w.state(s).acc[qi][mf];
      }
      if constexpr (Math::split) {
        mma<Math, L>(d, al, b);
        mma<Math, L>(d, a, bl);
      }
      mma<Math, L>(d, a, b);
    }
  }
}

// Epilogue pass: the warp's accumulators of row blocks [pass * ZF, +ZF) -> Zs, unscaled.
template <int M, class Math, int MF, typename T, class Warp>
WNO_HD WNO_FORCE_INLINE void write_z(const ConvParams<T>& p, int pass, int warp, Warp& w,
                                     unsigned char* smem) {
  using B = Block<M, Math, MF>;
  float* Zs = reinterpret_cast<float*>(smem + B::table_bytes);
  WNO_UNROLL for (int qi = 0; qi < B::QW; ++qi) {
    const int q = warp + qi * B::W;
    if (q >= B::P) break;
    const float inv = p.inv_scale[q];
    WNO_UNROLL for (int s = 0; s < Warp::L; ++s) {
      const int lane = w.lane(s), g = lane >> 2, t = lane & 3;
      WNO_UNROLL for (int f = 0; f < B::ZF; ++f) {
        const float* acc = w.state(s).acc[qi][pass * B::ZF + f];
        WNO_UNROLL for (int e = 0; e < 4; ++e) {
          const int row = f * 16 + g + (e >= 2 ? 8 : 0), col = 2 * t + (e & 1);
          Zs[(q * 16 * B::ZF + row) * B::BN + col] = acc[e] * inv;
        }
      }
    }
  }
}

// Thread per (out channel, tile): A^T Z A straight from Zs, + bias, crop, store.
template <int M, class Math, int MF, typename T>
WNO_HD WNO_FORCE_INLINE void store_outputs(const ConvParams<T>& p, int by, int pass, int tid,
                                           unsigned char* smem) {
  using B = Block<M, Math, MF>;
  constexpr int A = B::A, stride = 16 * B::ZF * B::BN;  // position q -> q + 1
  const ConvShape& s = p.s;
  const TileTable tt(smem, B::BN);
  const float* Zs = reinterpret_cast<const float*>(smem + B::table_bytes);
  for (int item = tid; item < 16 * B::ZF * B::BN; item += B::threads) {
    const int t = item % B::BN, kk = item / B::BN;
    const int k = (by * B::MF + pass * B::ZF) * 16 + kk;
    if (tt.xbase[t] < 0 || k >= s.k) continue;
    const float* z = Zs + kk * B::BN + t;
    float cols[M * A];  // column pass: cols[r][j] = (A^T Z)[r][j]
    WNO_UNROLL for (int j = 0; j < A; ++j)
      Winograd<M>::output_1d(z + j * stride, A * stride, cols + j, A);
    const float bias = p.bias ? p.bias[k] : 0.f;
    const int oy = tt.oy[t], ox = tt.ox[t];
    T* dst = p.y + tt.ybase[t] + (1LL * k * s.ho + oy) * s.wo + ox;
    WNO_UNROLL for (int r = 0; r < M; ++r) {
      float out[M];
      Winograd<M>::output_1d(cols + r * A, 1, out, 1);
      if (oy + r >= s.ho) break;
      WNO_UNROLL for (int c = 0; c < M; ++c)
        if (ox + c < s.wo) from_float(out[c] + bias, dst[1LL * r * s.wo + c]);
    }
  }
}

// ---- the schedule: threads(f) / warps(f) run a part of a barrier interval, sync() ends it.
// Zeroed accumulators and the tile table.
template <int M, class Math, int MF, typename T, typename Runner>
WNO_HD WNO_FORCE_INLINE void begin_block(Runner& run, const ConvParams<T>& p, int bx,
                                         unsigned char* smem) {
  using B = Block<M, Math, MF>;
  run.threads([&](int tid, ThreadState<M, Math, MF>& st) {
    WNO_UNROLL for (int qi = 0; qi < B::QW; ++qi) WNO_UNROLL
      for (int mf = 0; mf < B::MF; ++mf) WNO_UNROLL
        for (int e = 0; e < 4; ++e) st.acc[qi][mf][e] = 0.f;
    fill_table<M, Math, MF>(p, bx, tid, smem);
  });
  run.sync();
}

// Accumulators -> output transform -> y, ZF row blocks a pass.
template <int M, class Math, int MF, typename T, typename Runner>
WNO_HD WNO_FORCE_INLINE void end_block(Runner& run, const ConvParams<T>& p, int by,
                                       unsigned char* smem) {
  using B = Block<M, Math, MF>;
  // Unrolled: pass indexes the accumulator arrays, which must stay in registers.
  WNO_UNROLL for (int pass = 0; pass < B::passes; ++pass) {
    if (by * B::MF + pass * B::ZF >= p.kblocks) break;  // block-uniform
    run.warps([&](int warp, auto& w) { write_z<M, Math, MF>(p, pass, warp, w, smem); });
    run.sync();
    run.threads([&](int tid, ThreadState<M, Math, MF>&) {
      store_outputs<M, Math, MF>(p, by, pass, tid, smem);
    });
    run.sync();
  }
}

// The register pipeline: the next chunk's input columns in flight in registers.
template <int M, class Math, int MF, typename T, typename Runner>
WNO_HD WNO_FORCE_INLINE void conv_block(Runner& run, const ConvParams<T>& p, int bx, int by,
                                        unsigned char* smem) {
  using St = ThreadState<M, Math, MF>;
  using B = Block<M, Math, MF>;
  begin_block<M, Math, MF>(run, p, bx, smem);
  run.threads([&](int tid, St& st) {
    prefetch<M, Math, MF>(p, 0, tid, smem, st);
    store_columns<M, Math, MF>(tid, smem, st);
  });
  run.sync();
  for (int chunk = 0; chunk < p.cchunks; ++chunk) {
    run.threads([&](int tid, St&) {
      finish_input_transform<M, Math, MF, B::A, 1>(tid, smem);  // the row pass
    });
    run.sync();
    const bool next = chunk + 1 < p.cchunks;
    if (next)
      run.threads(
          [&](int tid, St& st) { prefetch<M, Math, MF>(p, (chunk + 1) * B::BC, tid, smem, st); });
    run.warps([&](int warp, auto& w) { mma_chunk<M, Math, MF>(p, by, chunk, warp, w, smem); });
    if (next) run.threads([&](int tid, St& st) { store_columns<M, Math, MF>(tid, smem, st); });
    run.sync();
  }
  end_block<M, Math, MF>(run, p, by, smem);
}

}  // namespace v2
}  // namespace cuda
}  // namespace wno
