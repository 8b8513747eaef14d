#include "neuralop_block.h"

#include <algorithm>

#include "compute.h"
#include "pool.h"

namespace wno::engine {
namespace {

// A worker's scratch for one chunk of kChunk columns (channel_mlp_scratch floats).
struct ChunkScratch {
  float *bu, *bv, *h1, *bh;  // packed input, packed v, hidden, packed hidden
  ChunkScratch(float* scratch, int c, int hidden)
      : bu(scratch),
        bv(bu + packed_floats(c, kChunk)),
        h1(bv + packed_floats(c, kChunk)),
        bh(h1 + 1LL * hidden * kChunk) {}
};

// The channel MLP on one chunk, in place: x = w2 gelu(w1 x + b1) + skip(v) + b2, then GELU if
// `act`. The skip is a GEMM on v packed in sb.bv (the caller packs it), a diagonal on v, or none.
void channel_mlp_chunk(const Kernels& K, const ChannelMlp& m, int cw, long long hw, float* x,
                       const float* v, const ChunkScratch& sb, bool act) {
  const int c = m.c, hidden = m.hidden;
  const float *w1 = m.w1, *b1 = m.b1, *w2 = m.w2, *b2 = m.b2, *skip = m.skip,
              *skip_diag = m.skip_diag;
  K.pack_b(c, cw, x, hw, sb.bu);
  K.gemm_packed(hidden, cw, c, w1, c, sb.bu, sb.h1, cw, false);
  K.bias_act(hidden, cw, sb.h1, cw, b1, true);
  K.pack_b(hidden, cw, sb.h1, cw, sb.bh);
  K.gemm_packed(c, cw, hidden, w2, hidden, sb.bh, x, hw, false);  // x's chunk is packed: overwrite
  if (skip) {
    K.gemm_packed(c, cw, c, skip, c, sb.bv, x, hw, true);
  } else if (skip_diag) {
    for (int ch = 0; ch < c; ++ch) {
      const float d = skip_diag[ch];
      float* r = x + ch * hw;
      const float* q = v + ch * hw;
      for (int j = 0; j < cw; ++j) r[j] += d * q[j];
    }
  }
  K.bias_act(c, cw, x, hw, b2, act);
}

}  // namespace

// Image rows per lifting task: about kChunk columns per GEMM.
int lift_rows(int h, int w) { return std::max(1, std::min(h, kChunk / std::max(w, 1))); }

long long lift_mlp_scratch(int cin, int h, int w, int lifting_width, int c) {
  const long long cols = 1LL * lift_rows(h, w) * w;
  return packed_floats(cin, cols) + 1LL * lifting_width * cols +
         packed_floats(lifting_width, cols) + 1LL * c * cols;
}

long long channel_mlp_scratch(int c, int hidden) {
  return 2 * packed_floats(c, kChunk) + 1LL * hidden * kChunk + packed_floats(hidden, kChunk);
}

void lift_mlp(const StageRun& run, const LiftMlp& m, const float* xn, float* out) {
  const Kernels& K = run.K;
  const int n = m.n, cin = m.cin, h = m.h, w = m.w, lw = m.lw, c = m.c, hp = m.hp, wp = m.wp,
            top = m.top, left = m.left;
  const float *lift_w = m.lift_w, *lift_c = m.lift_c, *w2 = m.w2, *b2 = m.b2;
  float* const scratch = run.scratch;
  const long long scratch_floats = run.scratch_floats;
  const long long hw = 1LL * h * w, hpwp = 1LL * hp * wp;
  const int rows = lift_rows(h, w);
  const long long blocks = (h + rows - 1) / rows;
  // A line (one row) is cut into chunks of kChunk columns instead, so that every thread works.
  const int span = h == 1 ? std::min(w, kChunk) : w;
  const long long pieces = (w + span - 1) / span;
  // `rows` image rows (or `span` columns of the one row) per task, contiguous in xn and lift_c;
  // the padding is zeroed by the tasks at the edges.
  auto block = [&](long long task, int worker) {
    const long long b = task / (blocks * pieces), t = task % (blocks * pieces);
    const long long i0 = t / pieces * rows;
    const int j0 = static_cast<int>(t % pieces) * span;
    const int r = static_cast<int>(std::min<long long>(rows, h - i0));
    const int cw = std::min(span, w - j0);  // columns of each row (r is 1 when span < w)
    const int cols = r * cw;
    const long long p0 = i0 * w + j0;  // the task's first pixel
    float* bp = scratch + worker * scratch_floats;
    float* h1 = bp + packed_floats(cin, cols);
    float* bp2 = h1 + 1LL * lw * cols;
    float* o = bp2 + packed_floats(lw, cols);  // (c, cols)
    const float* x = xn + b * cin * hw + p0;
    if (m.lift_rows) {  // the constant as row + column terms, in the first map's epilogue
      for (int k = 0; k < lw; ++k)
        for (int q = 0; q < r; ++q)
          K.lift_row(cw, cin, x + 1LL * q * w, hw, lift_w + 1LL * k * cin,
                     m.lift_rows[1LL * k * h + i0 + q], m.lift_cols + 1LL * k * w + j0,
                     h1 + 1LL * k * cols + 1LL * q * cw);
    } else {
      K.pack_b(cin, cols, x, hw, bp);
      K.gemm_packed(lw, cols, cin, lift_w, cin, bp, h1, cols, false);
      for (int k = 0; k < lw; ++k) {  // + bias and grid term
        const float* lc = lift_c + 1LL * k * hw + p0;
        float* hr = h1 + 1LL * k * cols;
        for (int j = 0; j < cols; ++j) hr[j] += lc[j];
      }
    }
    K.bias_act(lw, cols, h1, cols, nullptr, true);
    K.pack_b(lw, cols, h1, cols, bp2);
    float* img = out + b * c * hpwp + (top + i0) * wp + left + j0;
    const bool direct = wp == w;  // the task's pixels are contiguous in each output plane
    K.gemm_packed(c, cols, lw, w2, lw, bp2, direct ? img : o, direct ? hpwp : cols, false);
    K.bias_act(c, cols, direct ? img : o, direct ? hpwp : cols, b2, false);
    for (int ch = 0; ch < c; ++ch) {
      float* plane = out + (b * c + ch) * hpwp;
      if (!direct)
        for (int q = 0; q < r; ++q) {
          float* row = plane + (top + i0 + q) * wp;
          if (j0 == 0) std::fill(row, row + left, 0.f);
          const float* src = o + 1LL * ch * cols + 1LL * q * cw;
          std::copy(src, src + cw, row + left + j0);
          if (j0 + cw == w) std::fill(row + left + w, row + wp, 0.f);
        }
      if (i0 == 0) std::fill(plane, plane + 1LL * top * wp, 0.f);
      if (i0 + r == h) std::fill(plane + 1LL * (top + h) * wp, plane + hpwp, 0.f);
    }
  };
  parallel(run.P, n * blocks * pieces, block);
}

void channel_mlp(const StageRun& run, const ChannelMlp& m, int n, long long hw, float* u,
                 const float* v, bool gelu) {
  const long long chunks = (hw + kChunk - 1) / kChunk;
  const int c = m.c;
  auto chunk = [&](long long task, int worker) {
    const long long b = task / chunks, j0 = (task % chunks) * kChunk;
    const int cw = static_cast<int>(std::min<long long>(kChunk, hw - j0));
    const ChunkScratch sb(run.scratch + worker * run.scratch_floats, c, m.hidden);
    const float* vc = v + b * c * hw + j0;
    if (m.skip) run.K.pack_b(c, cw, vc, hw, sb.bv);
    channel_mlp_chunk(run.K, m, cw, hw, u + b * c * hw + j0, vc, sb, gelu);
  };
  parallel(run.P, n * chunks, chunk);
}

void fno_layer(const StageRun& run, const ChannelMlp& m, const float* w, const float* bias, int n,
               long long hw, float* s, const float* v, bool last) {
  const Kernels& K = run.K;
  const int c = m.c;
  const long long chunks = (hw + kChunk - 1) / kChunk;
  auto chunk = [&](long long task, int worker) {
    const long long b = task / chunks, j0 = (task % chunks) * kChunk;
    const int cw = static_cast<int>(std::min<long long>(kChunk, hw - j0));
    const ChunkScratch sb(run.scratch + worker * run.scratch_floats, c, m.hidden);
    const float* vc = v + b * c * hw + j0;
    float* sc = s + b * c * hw + j0;
    K.pack_b(c, cw, vc, hw, sb.bv);
    K.gemm_packed(c, cw, c, w, c, sb.bv, sc, hw, true);  // + W v onto the spectral branch
    K.bias_act(c, cw, sc, hw, bias, !last);
    if (!m.w1) {
      if (!last) K.bias_act(c, cw, sc, hw, nullptr, true);
      return;
    }
    channel_mlp_chunk(K, m, cw, hw, sc, vc, sb, !last);
  };
  parallel(run.P, n * chunks, chunk);
}

bool diagonal(const float* m, int c, float* diag) {
  for (int i = 0; i < c; ++i)
    for (int j = 0; j < c; ++j)
      if (i != j && m[1LL * i * c + j] != 0.f) return false;
  for (int i = 0; i < c; ++i) diag[i] = m[1LL * i * c + i];
  return true;
}

void gelu_inplace(const Kernels& K, Pool& P, long long rows, long long hw, float* u) {
  auto row = [&](long long r, int) {
    K.bias_act(1, static_cast<int>(hw), u + r * hw, hw, nullptr, true);
  };
  parallel(P, rows, row);
}

}  // namespace wno::engine
