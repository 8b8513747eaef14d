// Kernel v2 with a cp.async pipeline, F(2,3) and F(4,3) (WNO_CUDA_V2_PIPELINE=async).
// The GEMM, the tile table and the epilogue are conv_block_v2.h's; what changes is how a
// chunk's input reaches Vtmp. Per chunk c:
//   columns  (threads) column pass Vtmp -> Vmma in the operand type           | barrier
//   stage    (threads) cp.async the raw input rows of chunk c + 2 into stage c % 2
//   mma      (warps)   Z_q += U_q . V_q on chunk c
//   rows     (threads) wait for chunk c + 1's copies, row pass of them -> Vtmp | barrier
// Loads run two chunks ahead and hold no registers (the register pipeline keeps a chunk
// of columns in flight in registers, one chunk ahead). Each thread stages exactly the
// tile rows it transforms first (rows before columns, which B^T d B allows), so
// cp.async.wait_group alone publishes them: the staging needs no barrier.
// fp16 rows are copied as 4-byte aligned pairs: a tile row starts at an odd element half
// the time, so a staged row holds A + 2 halves and the tile's row starts at `off`. A pair
// whose first half is column -1 is written with plain stores; one whose second half is
// column w copies 2 bytes and zero-fills the rest.
#pragma once

#include <cstdint>

#include "conv_block_v2.h"

namespace wno {
namespace cuda {
namespace v2 {

template <int M, class Math, int MF>
struct Staging {
  using B = Block<M, Math, MF>;
  static constexpr int esize = static_cast<int>(sizeof(typename Math::Elem));
  static constexpr int RS = esize == 2 ? B::A + 2 : B::A;  // staged row, elements
  static constexpr int stages = 2;
  static constexpr int offset = (B::table_bytes + B::main_bytes + 15) / 16 * 16;
  static constexpr int stage_bytes = B::items * RS * esize;
  static constexpr int end = offset + stages * stage_bytes;
  static constexpr int smem_bytes = end > B::smem_bytes ? end : B::smem_bytes;
  static_assert(M <= 4, "F(6,3) keeps the register pipeline: two stages do not fit");
  static_assert(smem_bytes <= 64 * 1024, "dynamic shared memory of every target");
  static_assert((RS * esize) % 4 == 0, "staged rows 4-byte aligned");
};

// Item (tile t, row i, channel cc): t fastest, so a warp's copies are neighbouring tiles.
struct RowSource {
  long long at;  // element of (channel, row, column 0) in x
  int x0;        // image column of the tile row's first element
  int off;       // fp16: where the tile row starts in the staged row (0 or 1)
  bool valid;
};

template <int M, class Math, int MF, typename T>
WNO_HD WNO_FORCE_INLINE RowSource row_source(const ConvParams<T>& p, const TileTable& tt, int c0,
                                             int item) {
  using B = Block<M, Math, MF>;
  const ConvShape& s = p.s;
  const int t = item % B::BN, i = (item / B::BN) % B::A, c = c0 + item / (B::BN * B::A);
  const int xb = tt.xbase[t], yy = tt.oy[t] - s.pad + i;
  RowSource r{0, tt.ox[t] - s.pad, 0, xb >= 0 && c < s.c && yy >= 0 && yy < s.h};
  if (!r.valid) return r;
  r.at = xb + (1LL * c * s.h + yy) * s.w;
  if constexpr (sizeof(T) == 2) {  // parity of the first element's address in halves
    const long long first = static_cast<long long>(reinterpret_cast<std::uintptr_t>(p.x) >> 1);
    r.off = static_cast<int>((first + r.at + r.x0) & 1);
  }
  return r;
}

template <int M, class Math, int MF, typename T>
WNO_HD WNO_FORCE_INLINE T* staged(unsigned char* smem, int stage, int item) {
  using S = Staging<M, Math, MF>;
  return reinterpret_cast<T*>(smem + S::offset + stage * S::stage_bytes) + item * S::RS;
}

// The thread's tile rows of the chunk at c0 -> stage, asynchronously; zeros outside x.
template <int M, class Math, int MF, typename T, typename Runner>
WNO_HD WNO_FORCE_INLINE void stage_rows(Runner& run, const ConvParams<T>& p, int c0, int stage,
                                        int tid, unsigned char* smem) {
  using B = Block<M, Math, MF>;
  using S = Staging<M, Math, MF>;
  const int w = p.s.w;
  const TileTable tt(smem, B::BN);
  WNO_UNROLL for (int r = 0; r < B::IT; ++r) {
    const int item = tid + r * B::threads;
    const RowSource src = row_source<M, Math, MF>(p, tt, c0, item);
    T* dst = staged<M, Math, MF, T>(smem, stage, item);
    if (!src.valid) {
      WNO_UNROLL for (int e = 0; e < S::RS; ++e)
        from_float(0.f, dst[e]);
      continue;
    }
    const T* row = p.x + src.at;
    if constexpr (sizeof(T) == 4) {
      WNO_UNROLL for (int j = 0; j < B::A; ++j) {
        const int xx = src.x0 + j;
        if (xx >= 0 && xx < w)
          run.copy_async4(tid, dst + j, row + xx, 4);
        else
          from_float(0.f, dst[j]);
      }
    } else {
      WNO_UNROLL for (int k = 0; k < S::RS / 2; ++k) {
        const int xx = src.x0 - src.off + 2 * k;  // the pair's first column, even address
        if (xx >= 0 && xx < w) {
          run.copy_async4(tid, dst + 2 * k, row + xx, xx + 1 < w ? 4 : 2);
        } else {
          from_float(0.f, dst[2 * k]);
          if (xx == -1)
            dst[2 * k + 1] = row[0];
          else
            from_float(0.f, dst[2 * k + 1]);
        }
      }
    }
  }
}

// Row pass of the thread's staged rows -> Vtmp[i][j][cc][t] = (d B)[i][j].
template <int M, class Math, int MF, typename T>
WNO_HD WNO_FORCE_INLINE void transform_staged_rows(const ConvParams<T>& p, int c0, int stage,
                                                   int tid, unsigned char* smem) {
  using B = Block<M, Math, MF>;
  constexpr int A = B::A;
  const TileTable tt(smem, B::BN);
  float* Vt = vtmp<M, Math, MF>(smem);
  WNO_UNROLL for (int r = 0; r < B::IT; ++r) {
    const int item = tid + r * B::threads;
    const int t = item % B::BN, i = (item / B::BN) % A, cc = item / (B::BN * A);
    const T* row =
        staged<M, Math, MF, T>(smem, stage, item) + row_source<M, Math, MF>(p, tt, c0, item).off;
    float d[A], out[A];
    WNO_UNROLL for (int j = 0; j < A; ++j)
      d[j] = to_float(row[j]);
    Winograd<M>::input_1d(d, 1, out, 1);
    WNO_UNROLL for (int j = 0; j < A; ++j)
      Vt[((i * A + j) * B::BC + cc) * B::BN + t] = out[j];
  }
}

template <int M, class Math, int MF, typename T, typename Runner>
WNO_HD WNO_FORCE_INLINE void conv_block_async(Runner& run, const ConvParams<T>& p, int bx, int by,
                                              unsigned char* smem) {
  using St = ThreadState<M, Math, MF>;
  using B = Block<M, Math, MF>;
  begin_block<M, Math, MF>(run, p, bx, smem);
  run.threads([&](int tid, St&) {
    stage_rows<M, Math, MF>(run, p, 0, 0, tid, smem);
    run.commit_copies(tid);
    if (p.cchunks > 1) stage_rows<M, Math, MF>(run, p, B::BC, 1, tid, smem);
    run.commit_copies(tid);
    run.template wait_copies<1>(tid);
    transform_staged_rows<M, Math, MF>(p, 0, 0, tid, smem);
  });
  run.sync();
  for (int chunk = 0; chunk < p.cchunks; ++chunk) {
    run.threads([&](int tid, St&) {
      finish_input_transform<M, Math, MF, 1, B::A>(tid, smem);  // the column pass
    });
    run.sync();
    run.threads([&](int tid, St&) {  // stage chunk % 2 was read by this thread's last row pass
      if (chunk + 2 < p.cchunks)
        stage_rows<M, Math, MF>(run, p, (chunk + 2) * B::BC, chunk % 2, tid, smem);
      run.commit_copies(tid);  // empty groups keep the count: one group per chunk
    });
    run.warps([&](int warp, auto& w) { mma_chunk<M, Math, MF>(p, by, chunk, warp, w, smem); });
    if (chunk + 1 < p.cchunks)
      run.threads([&](int tid, St&) {
        run.template wait_copies<1>(tid);  // all but the newest group: chunk + 1 has landed
        transform_staged_rows<M, Math, MF>(p, (chunk + 1) * B::BC, (chunk + 1) % 2, tid, smem);
      });
    run.sync();
  }
  end_block<M, Math, MF>(run, p, by, smem);
}

}  // namespace v2
}  // namespace cuda
}  // namespace wno
