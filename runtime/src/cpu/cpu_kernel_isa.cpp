// Fused Winograd F(m x m, 3 x 3) convolution on the CPU, structured like ncnn's
// convolution_3x3_winograd. Compiled once per ISA (-DWNO_CPU_NS=..., ISA flags).
//
// The tiles of the whole batch (tiles take the place of the batch) are cut into blocks
// of NR consecutive tiles; one thread owns a block at a time:
//   1. input transform, per in channel and run of tiles in one tile row: copy the a rows
//      with zero padding into a band, deinterleave them into one-tile-per-lane vectors
//      (lane_shuffle.h), transform VL tiles at once:           V[position][C][NR]
//   2. batched GEMM, one per position, in out-channel chunks that stay in cache:
//      Mb[position][k][NR] = U[position][k][C] . V[position][C][NR]
//      (register tile kPanelRows x NR: broadcast U, vector loads of V, FMA)
//   3. epilogue per chunk: output transform of Mb + bias, interleave the m x m tiles back
//      into NCHW rows, store with the ragged right/bottom edge cropped.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cpu_kernel.h"
#include "gelu.h"
#include "lane_shuffle.h"
#include "simd.h"
#include "thread_pool.h"
#include "wno/winograd_tile.h"

namespace WNO_CPU_NS {
namespace {

using wno::ConvShape;
constexpr int MR = wno::kPanelRows;             // out channels per register tile
constexpr int NV = kTileVectors;                // vectors of tiles per register tile
constexpr int NR = NV * VL;                     // tiles per block
constexpr long long kChunkBudget = 192 * 1024;  // bytes of Mb per out-channel chunk

template <int M>
struct Layout {
  static constexpr int A = M + 2, P = A * A;
  // A band row holds the patch rows of up to NR tiles plus one vector of over-read.
  static constexpr int kBandRow = ((NR + VL - 1) / VL) * VL * M + VL;
  // Out channels per GEMM chunk: Mb = P * kb * NR floats stays near kChunkBudget.
  static int chunk_channels(const ConvShape& s) {
    const int kp = (s.k + MR - 1) / MR * MR;
    const int kb = static_cast<int>(kChunkBudget / (4LL * P * NR)) / MR * MR;
    return std::min(kp, std::max(MR, kb));
  }
  // Per-position strides of V and Mb, one cache line more than dense: a power-of-two
  // stride would put the P lines one tile's transform touches into one cache set. The
  // extra line also absorbs the over-run of the last unaligned vector of a block.
  static long long v_stride(const ConvShape& s) { return 1LL * s.c * NR + 16; }
  static long long mb_stride(const ConvShape& s) { return 1LL * chunk_channels(s) * NR + 16; }
  static long long v_floats(const ConvShape& s) { return P * v_stride(s); }
  static long long mb_floats(const ConvShape& s) { return P * mb_stride(s); }
  static std::size_t scratch_bytes(const ConvShape& s) {
    return sizeof(float) * (v_floats(s) + mb_floats(s) + A * kBandRow) + 64;
  }
};

// A run of consecutive tiles of one tile row inside a block; slot is its first lane.
struct Segment {
  int n, ty, tx, count, slot;
};

struct BlockTiles {
  int count = 0, segments = 0;
  Segment seg[NR];

  BlockTiles(const ConvShape& s, long long first, int count_) : count(count_) {
    const long long per_image = 1LL * s.th * s.tw;
    for (int l = 0; l < count;) {
      const long long t = first + l;
      const int r = static_cast<int>(t % per_image);
      Segment& g = seg[segments++];
      g.n = static_cast<int>(t / per_image);
      g.ty = r / s.tw;
      g.tx = r % s.tw;
      g.slot = l;
      g.count = std::min(count - l, s.tw - g.tx);
      l += g.count;
    }
  }
};

// The a input rows of a segment, zero outside the image, from column tx * M - pad.
template <int M>
void fill_band(const ConvShape& s, const float* plane, const Segment& g, float* band) {
  constexpr int A = M + 2, L = Layout<M>::kBandRow;
  const int y0 = g.ty * M - s.pad, x0 = g.tx * M - s.pad;
  const int lo = std::max(0, -x0), hi = std::min(L, s.w - x0);  // in-image columns
  for (int i = 0; i < A; ++i, band += L) {
    const int yy = y0 + i;
    if (yy < 0 || yy >= s.h || hi <= lo) {
      std::memset(band, 0, sizeof(float) * L);
      continue;
    }
    std::memset(band, 0, sizeof(float) * lo);
    std::memcpy(band + lo, plane + 1LL * yy * s.w + x0 + lo, sizeof(float) * (hi - lo));
    std::memset(band + hi, 0, sizeof(float) * (L - hi));
  }
}

// 1. V[p][c][slot ..] for every in channel c and segment. Vectors are stored at the
// segment's slot; lanes past its end spill into the next segment's slots, which are
// written afterwards, or into the spare lanes and padding at the end of the block.
template <int M>
void transform_input(const ConvShape& s, const float* x, const BlockTiles& bt, float* V,
                     long long v_stride, float* band) {
  constexpr int A = M + 2, P = A * A, L = Layout<M>::kBandRow;
  const long long plane = 1LL * s.h * s.w;
  if (bt.count < NR)  // keep the unused lanes of the last block finite
    for (int p = 0; p < P; ++p) std::memset(V + p * v_stride, 0, sizeof(float) * v_stride);
  for (int c = 0; c < s.c; ++c) {
    for (int gi = 0; gi < bt.segments; ++gi) {
      const Segment& g = bt.seg[gi];
      fill_band<M>(s, x + (1LL * g.n * s.c + c) * plane, g, band);
      for (int q = 0; q * VL < g.count; ++q) {
        vf d[P];
        WNO_UNROLL for (int i = 0; i < A; ++i)
          deinterleave<M>(band + i * L + q * VL * M, d + i * A);
        wno::input_tile<M>(d, d);
        float* out = V + 1LL * c * NR + g.slot + q * VL;
        WNO_UNROLL for (int p = 0; p < P; ++p)
          store(out + p * v_stride, d[p]);
      }
    }
  }
}

// 2. out[MR][NR] = u[C][MR]^T . v[C][NR]: the register-tiled inner GEMM.
WNO_FORCE_INLINE void gemm_tile(const float* __restrict u, const float* __restrict v, int c_count,
                                float* __restrict out) {
  vf acc[MR][NV];
  WNO_UNROLL for (int i = 0; i < MR; ++i) {
    WNO_UNROLL for (int j = 0; j < NV; ++j)
      acc[i][j] = vf{};
  }
  for (int c = 0; c < c_count; ++c, u += MR, v += NR) {
    vf b[NV];
    WNO_UNROLL for (int j = 0; j < NV; ++j)
      b[j] = load(v + j * VL);
    WNO_UNROLL for (int i = 0; i < MR; ++i) {
      const vf a = splat(u[i]);
      WNO_UNROLL for (int j = 0; j < NV; ++j)
        acc[i][j] += a * b[j];
    }
  }
  WNO_UNROLL for (int i = 0; i < MR; ++i) {
    WNO_UNROLL for (int j = 0; j < NV; ++j)
      store(out + i * NR + j * VL, acc[i][j]);
  }
}

// act(line + addend) over n <= VL * M floats of one output row, stored at out.
template <int M>
WNO_FORCE_INLINE void store_row(vf* line, int n, const float* add, int gelu, float* out) {
  if (n == VL * M) {
    WNO_UNROLL for (int t = 0; t < M; ++t) {
      vf v = line[t];
      if (add) v += load(add + t * VL);
      if (gelu) v = WNO_CPU_NS::gelu(v);
      store(out + t * VL, v);
    }
    return;
  }
  if (add) {
    float tmp[VL * M];
    store(tmp, vf{});  // lanes past n stay finite
    std::memcpy(tmp, add, sizeof(float) * n);
    WNO_UNROLL for (int t = 0; t < M; ++t)
      line[t] += load(tmp + t * VL);
  }
  if (gelu) {
    WNO_UNROLL for (int t = 0; t < M; ++t)
      line[t] = WNO_CPU_NS::gelu(line[t]);
  }
  std::memcpy(out, line, sizeof(float) * n);
}

// 3. Output transform + epilogue of out channels [k0, k0 + kn) of the chunk in Mb.
template <int M>
void transform_output(const ConvShape& s, const float* Mb, long long mb_stride, int k0, int kn,
                      const wno::Epilogue& epi, const BlockTiles& bt, float* y) {
  constexpr int A = M + 2, P = A * A;
  for (int kk = 0; kk < kn; ++kk) {
    const int k = k0 + kk;
    const vf b = splat(epi.bias ? epi.bias[k] : 0.f);
    for (int gi = 0; gi < bt.segments; ++gi) {
      const Segment& g = bt.seg[gi];
      const int oy = g.ty * M, ox = g.tx * M;
      const int rows = std::min(M, s.ho - oy);
      const int cols = std::min(g.count * M, s.wo - ox);  // cropped at the right edge
      const long long at = ((1LL * g.n * s.k + k) * s.ho + oy) * s.wo + ox;
      float* dst = y + at;
      const float* add = epi.addend ? epi.addend + at : nullptr;
      for (int q = 0; q * VL < g.count; ++q) {
        vf m[P], o[M * M];
        const float* src = Mb + kk * NR + g.slot + q * VL;
        WNO_UNROLL for (int p = 0; p < P; ++p)
          m[p] = load(src + p * mb_stride);
        wno::output_tile<M>(m, o);
        WNO_UNROLL for (int r = 0; r < M * M; ++r)
          o[r] += b;
        const int n = std::min(VL * M, cols - q * VL * M);
        for (int r = 0; r < rows; ++r) {
          vf line[M];
          interleave<M>(o + r * M, line);
          const long long off = 1LL * r * s.wo + q * VL * M;
          store_row<M>(line, n, add ? add + off : nullptr, epi.gelu, dst + off);
        }
      }
    }
  }
}

template <int M>
struct Job {
  const ConvShape* s;
  const float *x, *u;
  wno::Epilogue epi;
  float* y;
  char* scratch;
  std::size_t scratch_stride;
};

template <int M>
void run_block(void* ctx, long long block, int worker) {
  using L = Layout<M>;
  constexpr int P = L::P;
  const Job<M>& job = *static_cast<const Job<M>*>(ctx);
  const ConvShape& s = *job.s;
  const long long first = block * NR;
  const BlockTiles bt(s, first, static_cast<int>(std::min<long long>(NR, s.tiles - first)));

  char* base = job.scratch + job.scratch_stride * worker;
  float* V =
      reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(base) + 63) & ~std::uintptr_t{63});
  float* Mb = V + L::v_floats(s);
  float* band = Mb + L::mb_floats(s);
  const long long v_stride = L::v_stride(s), mb_stride = L::mb_stride(s);

  transform_input<M>(s, job.x, bt, V, v_stride, band);

  const int panels = (s.k + MR - 1) / MR;
  const int kb = L::chunk_channels(s);
  for (int k0 = 0; k0 < s.k; k0 += kb) {
    const int chunk_panels = std::min(kb, panels * MR - k0) / MR;
    for (int p = 0; p < P; ++p) {
      const float* v = V + p * v_stride;
      for (int j = 0; j < chunk_panels; ++j) {
        const long long panel = 1LL * p * panels + k0 / MR + j;
        gemm_tile(job.u + panel * s.c * MR, v, s.c, Mb + p * mb_stride + j * MR * NR);
      }
    }
    transform_output<M>(s, Mb, mb_stride, k0, std::min(kb, s.k - k0), job.epi, bt, job.y);
  }
}

template <int M>
void conv2d_tile(const ConvShape& s, const float* x, const float* u, const wno::Epilogue& epi,
                 float* y, char* scratch, int threads) {
  Job<M> job{&s, x, u, epi, y, scratch, Layout<M>::scratch_bytes(s)};
  const long long blocks = (s.tiles + NR - 1) / NR;
  wno::parallel_for(blocks, threads, run_block<M>, &job);
}

}  // namespace

std::size_t scratch_bytes(const ConvShape& s) {
  switch (s.m) {
    case 2:
      return Layout<2>::scratch_bytes(s);
    case 4:
      return Layout<4>::scratch_bytes(s);
    default:
      return Layout<6>::scratch_bytes(s);
  }
}

void conv2d(const ConvShape& s, const float* x, const float* u, const wno::Epilogue& epi, float* y,
            char* scratch, int threads) {
  switch (s.m) {
    case 2:
      return conv2d_tile<2>(s, x, u, epi, y, scratch, threads);
    case 4:
      return conv2d_tile<4>(s, x, u, epi, y, scratch, threads);
    default:
      return conv2d_tile<6>(s, x, u, epi, y, scratch, threads);
  }
}

}  // namespace WNO_CPU_NS
