// Fused Winograd F(m x m, 3 x 3) convolution on the CPU, structured like ncnn's
// convolution_3x3_winograd. Compiled once per ISA (-DWNO_CPU_NS=..., ISA flags).
// The 1-D F(m, 3) (D = 1: a line, one tile row per image) is the same code on tiles
// of 1 x a inputs: one band row, a positions instead of a^2, one pass of each transform.
//
// The tiles of the whole batch (tiles take the place of the batch) are cut into blocks
// of up to NR consecutive tiles. Per block:
//   1. input transform, per in channel: copy the a rows of each run of tiles in one tile
//      row, with zero padding, side by side into a band, deinterleave them into
//      one-tile-per-lane vectors (lane_shuffle.h), transform VL tiles at once:
//                                                               V[position][C][NR]
//   2. batched GEMM, one per position, in out-channel chunks that stay in cache:
//      Mb[position][k][NR] = U[position][k][C] . V[position][C][NR]
//      (register tile kPanelRows x NR: broadcast U, vector loads of V, FMA)
//   3. epilogue per chunk: output transform of Mb, + bias + addend, activation,
//      interleave the m x m tiles back into NCHW rows, store with the ragged edge cropped.
// Work split (Plan): a thread owns a block at a time and runs 1-3 on it (V private, in
// its L2). The block size is NR tiles, or fewer vectors of tiles when that balances the
// threads better (batch 1, 66 x 66, F(4,3): 289 tiles are 5 blocks of 64 but 10 of 32).
// Only when that stays uneven (few tiles, many threads) does the call run in two
// phases: 1 for every (block, in-channel group) into a V shared by all threads, then
// 2-3 for every (block, out-channel group); V then travels between cores, which costs
// more than the balance gains on two threads (Zen 4: 1.5x vs 1.9x at 64 x 64).
// A caller that evens the threads out itself (Parallel::balanced: the engine runs its
// spectral mixing in the conv's region) gets NR-tile blocks whatever the thread count.
// Either way each output element is computed by the same arithmetic in the same
// order: the result does not depend on the thread count.
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

template <int M, int D>
struct Layout {
  static constexpr int A = M + 2;
  static constexpr int P = D == 1 ? A : A * A;  // positions: GEMMs per block
  static constexpr int R = D == 1 ? 1 : A;      // input rows per tile (band rows)
  static constexpr int Y = D == 1 ? M : M * M;  // outputs per tile
  // A band row holds the patch rows of up to NR tiles plus one vector of over-read,
  // plus one vector of slack for whole-vector zeroing past the end.
  static constexpr int kBandRow = ((NR + VL - 1) / VL) * VL * M + 2 * VL;
  // Out channels per GEMM chunk: Mb = P * kb * NR floats stays near kChunkBudget.
  static int chunk_channels(const ConvShape& s) {
    const int kp = (s.k + MR - 1) / MR * MR;
    const int kb = static_cast<int>(kChunkBudget / (4LL * P * NR)) / MR * MR;
    return std::min(kp, std::max(MR, kb));
  }
  // Per-position strides of V and Mb, one cache line more than dense: a power-of-two
  // stride would put the P lines one tile's transform touches into one cache set.
  static long long v_stride(const ConvShape& s) { return 1LL * s.c * NR + 16; }
  static long long mb_stride(const ConvShape& s) { return 1LL * chunk_channels(s) * NR + 16; }
  static long long v_floats(const ConvShape& s) { return P * v_stride(s); }
  static long long mb_floats(const ConvShape& s) { return P * mb_stride(s); }
  static constexpr long long band_floats() { return (R * kBandRow + 15) / 16 * 16; }
};

// How a call's work is cut into tasks (see the top of the file).
struct Plan {
  int nb = NR;  // tiles per block: NR, or fewer vectors for more blocks
  long long blocks = 0;
  bool split = false;      // two phases over a shared V
  int cgroups = 1, cg;     // phase 1: in-channel groups of cg channels
  int kchunks = 1, kcp;    // phase 2: out-channel groups of kcp panels
  long long shared = 0;    // floats of the shared V
  long long private_ = 0;  // floats per thread
};

long long ceil_div(long long a, long long b) { return (a + b - 1) / b; }

// Expected efficiency of a block-per-task schedule with nb tiles a block: the busiest
// thread's share against an even one, times the relative speed of nb / VL vectors of
// tiles a register tile (measured on Zen 4, one thread: 16-, 32- and 64-tile blocks are
// within 2-7% of each other; the small penalty prefers big blocks on a tie).
double block_schedule_score(long long tiles, int nb, int threads) {
  const long long blocks = ceil_div(tiles, nb);
  const double even = static_cast<double>(tiles) / nb / threads;
  const double balance = even / static_cast<double>(ceil_div(blocks, threads));
  const int w = nb / VL;
  const double gemm = w >= NV ? 1.0 : w >= 2 ? 0.97 : 0.93;
  return balance * gemm;
}

template <int M, int D>
Plan make_plan(const ConvShape& s, int threads, bool balanced) {
  using L = Layout<M, D>;
  Plan pl;
  const int panels = static_cast<int>(ceil_div(s.k, MR));
  pl.cg = s.c;
  pl.kcp = panels;
  // One block a task, with the block size (NR, half of it, one vector) that balances
  // the threads best (batch 1, 64 x 64, F(4,3): 4 blocks of 64 tiles, or 8 of 32).
  double best = 0;
  if (threads > 1 && !balanced) {
    for (const int nb : {NR, (NV + 1) / 2 * VL, VL}) {
      const double score = block_schedule_score(s.tiles, nb, threads);
      if (score > best + 1e-9) {
        best = score;
        pl.nb = nb;
      }
    }
  }
  pl.blocks = ceil_div(s.tiles, pl.nb);
  // Still uneven (25 tiles on 3 threads): split the channels of NR-tile blocks instead.
  pl.split = threads > 1 && !balanced && best < 0.8;
  if (pl.split) {
    pl.nb = NR;
    pl.blocks = ceil_div(s.tiles, NR);
    const long long want = ceil_div(4LL * threads, pl.blocks);  // tasks per block
    pl.cg = static_cast<int>(ceil_div(s.c, std::min<long long>(want, s.c)));
    pl.cgroups = static_cast<int>(ceil_div(s.c, pl.cg));
    pl.kcp = static_cast<int>(ceil_div(panels, std::min<long long>(want, panels)));
    pl.kchunks = static_cast<int>(ceil_div(panels, pl.kcp));
    pl.shared = pl.blocks * L::v_floats(s);
    pl.private_ = L::mb_floats(s) + L::band_floats();
  } else {
    pl.private_ = L::v_floats(s) + L::mb_floats(s) + L::band_floats();
  }
  pl.private_ = (pl.private_ + 15) / 16 * 16;  // each thread's part starts on a cache line
  return pl;
}

// Enough for either plan (Parallel::balanced or not).
template <int M, int D>
std::size_t workspace_bytes_tile(const ConvShape& s, int threads) {
  std::size_t most = 0;
  for (const bool balanced : {false, true}) {
    const Plan pl = make_plan<M, D>(s, threads, balanced);
    most = std::max<std::size_t>(most, sizeof(float) * (pl.shared + threads * pl.private_) + 64);
  }
  return most;
}

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

// The R input rows of a segment, zero outside the image, into band columns
// [slot * M, (slot + count) * M + 2), then zeros up to column `end` (rounded up to whole
// vectors: segments are filled left to right, the next one overwrites the excess).
// Tile l of the block starts at column l * M.
template <int M, int D>
void fill_segment(const ConvShape& s, const float* plane, const Segment& g, int end, float* band) {
  constexpr int R = Layout<M, D>::R, L = Layout<M, D>::kBandRow;
  const int width = std::max(g.count * M + 2, end - g.slot * M);
  const int y0 = D == 1 ? 0 : g.ty * M - s.pad, x0 = g.tx * M - s.pad;  // a line: no row padding
  const int lo = std::max(0, -x0), hi = std::max(lo, std::min(g.count * M + 2, s.w - x0));
  band += g.slot * M;
  for (int i = 0; i < R; ++i, band += L) {
    const int yy = y0 + i;
    int j = 0;
    if (yy >= 0 && yy < s.h && hi > lo) {
      // Short rows (tens of floats): inline vector copies, the last one overlapping.
      const float* src = plane + 1LL * yy * s.w + x0 + lo;  // column lo
      for (; j < lo; ++j) band[j] = 0.f;
      float* dst = band + lo;
      const int n = hi - lo;
      if (n >= VL) {
        for (int t = 0; t + VL <= n; t += VL) store(dst + t, load(src + t));
        store(dst + n - VL, load(src + n - VL));
      } else {
        for (int t = 0; t < n; ++t) dst[t] = src[t];
      }
      j = hi;
    }
    for (; j < width; j += VL) store(band + j, vf{});
  }
}

// 1. V[p][c][lane] for in channels [c0, c1): the block's segments side by side in one
// band, so a vector of tiles may span tile rows (17 tiles a row cost 2 vectors a row
// otherwise). Where two segments meet they overlap by 2 columns: the last tile of the
// left one gets its columns M, M + 1 patched in after the deinterleave.
template <int M, int D>
void transform_input(const ConvShape& s, const float* x, const BlockTiles& bt, float* V,
                     long long v_stride, float* band, int c0, int c1) {
  using Lay = Layout<M, D>;
  constexpr int A = M + 2, P = Lay::P, R = Lay::R, L = Lay::kBandRow;
  const long long plane = 1LL * s.h * s.w;
  const int nvec = (bt.count + VL - 1) / VL;
  const int width = nvec * VL * M + VL;  // columns the deinterleaves read
  float seam[NR][R][2];                  // columns M, M + 1 of each segment's last tile
  for (int c = c0; c < c1; ++c) {
    if (bt.count < nvec * VL)  // keep the unused lanes of the last vector finite
      for (int p = 0; p < P; ++p)
        std::memset(V + p * v_stride + 1LL * c * NR + bt.count, 0,
                    sizeof(float) * (nvec * VL - bt.count));
    for (int gi = 0; gi < bt.segments; ++gi) {
      const Segment& g = bt.seg[gi];
      const int end = gi + 1 < bt.segments ? 0 : width;  // the last one zeroes the over-read
      fill_segment<M, D>(s, x + (1LL * g.n * s.c + c) * plane, g, end, band);
      if (gi + 1 < bt.segments) {
        const int col = (g.slot + g.count) * M;
        for (int i = 0; i < R; ++i) {
          seam[gi][i][0] = band[i * L + col];
          seam[gi][i][1] = band[i * L + col + 1];
        }
      }
    }
    int gi = 0;  // the first segment that ends at or after this vector
    for (int q = 0; q < nvec; ++q) {
      vf d[P];
      WNO_UNROLL for (int i = 0; i < R; ++i)
        deinterleave<M>(band + i * L + q * VL * M, d + i * A);
      for (; gi + 1 < bt.segments; ++gi) {  // seams inside this vector
        const int last = bt.seg[gi].slot + bt.seg[gi].count - 1 - q * VL;
        if (last >= VL) break;
        WNO_UNROLL for (int i = 0; i < R; ++i) {
          d[i * A + M] = with_lane(d[i * A + M], last, seam[gi][i][0]);
          d[i * A + M + 1] = with_lane(d[i * A + M + 1], last, seam[gi][i][1]);
        }
      }
      if constexpr (D == 1)
        wno::Winograd<M>::input_1d(d, 1, d, 1);
      else
        wno::input_tile<M>(d, d);
      float* out = V + 1LL * c * NR + q * VL;
      WNO_UNROLL for (int p = 0; p < P; ++p)
        store(out + p * v_stride, d[p]);
    }
  }
}

// 2. out[MR][NR] = u[C][MR]^T . v[C][NR]: the register-tiled inner GEMM, on the first
// W <= NV vectors of tiles (the last block of a call may fill fewer).
template <int W>
WNO_FORCE_INLINE void gemm_tile(const float* __restrict u, const float* __restrict v, int c_count,
                                float* __restrict out) {
  vf acc[MR][W];
  WNO_UNROLL for (int i = 0; i < MR; ++i) {
    WNO_UNROLL for (int j = 0; j < W; ++j)
      acc[i][j] = vf{};
  }
  for (int c = 0; c < c_count; ++c, u += MR, v += NR) {
    vf b[W];
    WNO_UNROLL for (int j = 0; j < W; ++j)
      b[j] = load(v + j * VL);
    WNO_UNROLL for (int i = 0; i < MR; ++i) {
      const vf a = splat(u[i]);
      WNO_UNROLL for (int j = 0; j < W; ++j)
        acc[i][j] += a * b[j];
    }
  }
  WNO_UNROLL for (int i = 0; i < MR; ++i) {
    WNO_UNROLL for (int j = 0; j < W; ++j)
      store(out + i * NR + j * VL, acc[i][j]);
  }
}

// act(line + addend) of floats [from, from + n) of one interleaved output row (VL tiles,
// VL * M floats), stored at out; addend (or null) is read at the same place as out.
template <int M>
WNO_FORCE_INLINE void store_row(vf* line, int from, int n, const float* add, int gelu, float* out) {
  if (from == 0 && n == VL * M) {
    WNO_UNROLL for (int t = 0; t < M; ++t) {
      vf v = line[t];
      if (add) v += load(add + t * VL);
      if (gelu) v = gelu_erf_poly3(v);
      store(out + t * VL, v);
    }
    return;
  }
  // A part of the row (a segment's edge): lanes [from, from + n) of the M vectors, masked.
  WNO_UNROLL for (int t = 0; t < M; ++t) {
    const int lo = std::max(from - t * VL, 0), hi = std::min(from + n - t * VL, VL);
    if (lo >= hi) continue;
    const long long at = t * VL - from;  // out[at + lane] is the row's float t * VL + lane
    vf v = line[t];
    if (add) v += load_lanes(add + at, lo, hi);
    if (gelu) v = gelu_erf_poly3(v);
    store_lanes(out + at, lo, hi, v);
  }
}

// 3. Output transform + epilogue of out channels [k0, k0 + kn) of the chunk in Mb: per
// vector of VL tiles, then the part of each segment in it back into NCHW rows.
template <int M, int D>
void transform_output(const ConvShape& s, const float* Mb, long long mb_stride, int k0, int kn,
                      const wno::Epilogue& epi, const BlockTiles& bt, float* y) {
  constexpr int P = Layout<M, D>::P, Y = Layout<M, D>::Y;
  const int nvec = (bt.count + VL - 1) / VL;
  for (int kk = 0; kk < kn; ++kk) {
    const int k = k0 + kk;
    const vf b = splat(epi.bias ? epi.bias[k] : 0.f);
    int gi = 0;  // the first segment that ends inside or after this vector
    for (int q = 0; q < nvec; ++q) {
      vf m[P], o[Y];
      const float* src = Mb + kk * NR + q * VL;
      WNO_UNROLL for (int p = 0; p < P; ++p)
        m[p] = load(src + p * mb_stride);
      if constexpr (D == 1)
        wno::Winograd<M>::output_1d(m, 1, o, 1);
      else
        wno::output_tile<M>(m, o);
      WNO_UNROLL for (int r = 0; r < Y; ++r)
        o[r] += b;
      vf lines[Y / M][M];  // the tile rows interleaved once, then stored per segment (often 2)
      WNO_UNROLL for (int r = 0; r < Y / M; ++r)
        interleave<M>(o + r * M, lines[r]);
      const int v0 = q * VL, v1 = std::min(bt.count, v0 + VL);  // lanes of this vector
      for (int gj = gi; gj < bt.segments && bt.seg[gj].slot < v1; ++gj) {
        const Segment& g = bt.seg[gj];
        const int a = std::max(g.slot, v0), e = std::min(g.slot + g.count, v1);
        const int oy = g.ty * M, ox = (g.tx + a - g.slot) * M;
        const int rows = D == 1 ? 1 : std::min(M, s.ho - oy);
        const int cols = std::min((e - a) * M, s.wo - ox);  // cropped at the right edge
        const long long at = ((1LL * g.n * s.k + k) * s.ho + oy) * s.wo + ox;
        for (int r = 0; r < rows; ++r) {
          const long long off = at + 1LL * r * s.wo;
          store_row<M>(lines[r], (a - v0) * M, cols, epi.addend ? epi.addend + off : nullptr,
                       epi.gelu, y + off);
        }
        if (g.slot + g.count <= v1) gi = gj + 1;  // done with this segment
      }
    }
  }
}

template <int M, int D>
struct Job {
  const ConvShape* s;
  const float *x, *u;
  wno::Epilogue epi;
  float* y;
  Plan plan;
  float* shared_v;  // split: plan.blocks blocks of V
  float* threads;   // plan.private_ floats per worker
};

BlockTiles block_tiles(const ConvShape& s, long long block, int nb) {
  const long long first = block * nb;
  return BlockTiles(s, first, static_cast<int>(std::min<long long>(nb, s.tiles - first)));
}

// Mb[p][j] = U[p][panel j] . V[p] for every position p and `count` panels from u.
template <int P, int W>
void gemm_panels(const float* u, const float* V, float* Mb, int panels, int count, int c,
                 long long v_stride, long long mb_stride) {
  for (int p = 0; p < P; ++p) {
    const float* v = V + p * v_stride;
    for (int j = 0; j < count; ++j)
      gemm_tile<W>(u + (1LL * p * panels + j) * c * MR, v, c, Mb + p * mb_stride + j * MR * NR);
  }
}

// 2-3 for out-channel panels [pan0, pan1) of one block, in cache-sized chunks.
template <int M, int D>
void gemm_output(const Job<M, D>& job, const BlockTiles& bt, const float* V, float* Mb, int pan0,
                 int pan1) {
  using L = Layout<M, D>;
  constexpr int P = L::P;
  const ConvShape& s = *job.s;
  const long long v_stride = L::v_stride(s), mb_stride = L::mb_stride(s);
  const int panels = static_cast<int>(ceil_div(s.k, MR));
  const int kbp = L::chunk_channels(s) / MR;  // panels per chunk
  for (int c0 = pan0; c0 < pan1; c0 += kbp) {
    const int chunk_panels = std::min(kbp, pan1 - c0);
    const float* u = job.u + 1LL * c0 * s.c * MR;
    switch ((bt.count + VL - 1) / VL) {
      case 1:
        gemm_panels<P, 1>(u, V, Mb, panels, chunk_panels, s.c, v_stride, mb_stride);
        break;
      case 2:
        gemm_panels<P, NV >= 2 ? 2 : NV>(u, V, Mb, panels, chunk_panels, s.c, v_stride, mb_stride);
        break;
      case 3:
        gemm_panels<P, NV >= 3 ? 3 : NV>(u, V, Mb, panels, chunk_panels, s.c, v_stride, mb_stride);
        break;
      default:
        gemm_panels<P, NV>(u, V, Mb, panels, chunk_panels, s.c, v_stride, mb_stride);
    }
    const int k0 = c0 * MR;
    transform_output<M, D>(s, Mb, mb_stride, k0, std::min(chunk_panels * MR, s.k - k0), job.epi, bt,
                           job.y);
  }
}

// One block, 1-3, on one thread.
template <int M, int D>
void block_task(void* ctx, long long block, int worker) {
  using L = Layout<M, D>;
  const Job<M, D>& job = *static_cast<const Job<M, D>*>(ctx);
  const ConvShape& s = *job.s;
  const BlockTiles bt = block_tiles(s, block, job.plan.nb);
  float* V = job.threads + job.plan.private_ * worker;
  float* Mb = V + L::v_floats(s);
  float* band = Mb + L::mb_floats(s);
  transform_input<M, D>(s, job.x, bt, V, L::v_stride(s), band, 0, s.c);
  gemm_output<M, D>(job, bt, V, Mb, 0, job.plan.kcp);
}

// Phase 1 of a split call: one (block, in-channel group) into the shared V.
template <int M, int D>
void input_task(void* ctx, long long task, int worker) {
  using L = Layout<M, D>;
  const Job<M, D>& job = *static_cast<const Job<M, D>*>(ctx);
  const ConvShape& s = *job.s;
  const long long block = task / job.plan.cgroups;
  const int c0 = static_cast<int>(task % job.plan.cgroups) * job.plan.cg;
  const BlockTiles bt = block_tiles(s, block, job.plan.nb);
  float* band = job.threads + job.plan.private_ * worker + L::mb_floats(s);
  transform_input<M, D>(s, job.x, bt, job.shared_v + block * L::v_floats(s), L::v_stride(s), band,
                        c0, std::min(s.c, c0 + job.plan.cg));
}

// Phase 2 of a split call: one (block, out-channel group) from the shared V.
template <int M, int D>
void output_task(void* ctx, long long task, int worker) {
  using L = Layout<M, D>;
  const Job<M, D>& job = *static_cast<const Job<M, D>*>(ctx);
  const ConvShape& s = *job.s;
  const long long block = task / job.plan.kchunks;
  const int pan0 = static_cast<int>(task % job.plan.kchunks) * job.plan.kcp;
  const int panels = static_cast<int>(ceil_div(s.k, MR));
  const BlockTiles bt = block_tiles(s, block, job.plan.nb);
  gemm_output<M, D>(job, bt, job.shared_v + block * L::v_floats(s),
                    job.threads + job.plan.private_ * worker, pan0,
                    std::min(panels, pan0 + job.plan.kcp));
}

template <int M, int D>
void conv_tile(const ConvShape& s, const float* x, const float* u, const wno::Epilogue& epi,
               float* y, char* workspace, const wno::Parallel& par) {
  Job<M, D> job{&s, x, u, epi, y, make_plan<M, D>(s, par.threads, par.balanced), nullptr, nullptr};
  float* base = reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(workspace) + 63) &
                                         ~std::uintptr_t{63});
  job.shared_v = base;
  job.threads = base + job.plan.shared;
  const Plan& pl = job.plan;
  if (!pl.split) {
    par(pl.blocks, block_task<M, D>, &job);
    return;
  }
  par(pl.blocks * pl.cgroups, input_task<M, D>, &job);
  par(pl.blocks * pl.kchunks, output_task<M, D>, &job);
}

// Calls f(Tiling<M, D>{}) for the shape's tile and rank: one instantiation each.
template <int M, int D>
struct Tiling {
  static constexpr int m = M, d = D;
};

template <int D, class F>
auto by_tile(int m, F f) {
  switch (m) {
    case 2:
      return f(Tiling<2, D>{});
    case 4:
      return f(Tiling<4, D>{});
    default:
      return f(Tiling<6, D>{});
  }
}

template <class F>
auto by_tiling(const ConvShape& s, F f) {
  return s.dims == 1 ? by_tile<1>(s.m, f) : by_tile<2>(s.m, f);
}

}  // namespace

std::size_t workspace_bytes(const ConvShape& s, int threads) {
  return by_tiling(s, [&](auto t) {
    using T = decltype(t);
    return workspace_bytes_tile<T::m, T::d>(s, threads);
  });
}

void conv2d(const ConvShape& s, const float* x, const float* u, const wno::Epilogue& epi, float* y,
            char* workspace, const wno::Parallel& par) {
  by_tiling(s, [&](auto t) {
    using T = decltype(t);
    conv_tile<T::m, T::d>(s, x, u, epi, y, workspace, par);
  });
}

}  // namespace WNO_CPU_NS
