// The fused pipeline's arena and weights, from the nodes the patterns matched (match.h): every
// size is the graph's, every tensor is the one the matched node reads.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "engine_impl.h"
#include "neuralop_block.h"

namespace wno::engine {
namespace {

// Bump allocation of the arena: first pass sizes, second pass hands out 64-byte aligned blocks.
class Layout {
 public:
  explicit Layout(long long max_bytes) : max_(max_bytes) {}
  template <class T>
  void add(T** ptr, long long count) {
    if (count < 0 || count > max_) overflow_ = true;
    const long long bytes = (static_cast<long long>(sizeof(T)) * std::max(count, 0LL) + 63) & ~63LL;
    items_.push_back({reinterpret_cast<void**>(ptr), offset_});
    if (!overflow_) offset_ += bytes;
    if (offset_ > max_) overflow_ = true;
  }
  long long bytes() const { return offset_; }
  bool overflow() const { return overflow_; }
  void assign(char* base) {
    for (const auto& it : items_) *it.first = base + it.second;
  }

 private:
  std::vector<std::pair<void**, long long>> items_;
  long long offset_ = 0, max_;
  bool overflow_ = false;
};

// A Conv's weights, doubled where the match folded a GELU's * 0.5 into them (match.h).
std::vector<float> weights(const Graph& g, const WnoMatch& wm, int id) {
  std::vector<float> w = g.floats(id);
  if (std::find(wm.doubled.begin(), wm.doubled.end(), id) != wm.doubled.end())
    for (float& x : w) x *= 2.0f;
  return w;
}

void put(float* dst, const std::vector<float>& src) {
  if (!src.empty()) std::memcpy(dst, src.data(), src.size() * sizeof(float));
}

// Shapes of the fused stages, from the match.
void set_shapes(const WnoMatch& wm, Engine* e) {
  e->n = wm.n;
  e->cin = wm.cin;
  e->cout = wm.cout;
  e->h = wm.h;
  e->w = wm.w;
  e->c = wm.c;
  e->proj = wm.proj;
  e->proj_act = wm.proj_act;
  e->hp = wm.hp;
  e->wp = wm.wp;
  e->top = wm.top;
  e->left = wm.left;
  e->lw = wm.lw;
  e->cmw = wm.cmw;
  e->fused_lift = wm.lift;
  e->fused_project = wm.project;
  e->m2 = wm.m2;
  e->k1 = wm.k1;
  e->modes = 1LL * wm.k1 * wm.m2;
  e->modes_p = (e->modes + kModeBlock - 1) / kModeBlock * kModeBlock;
  e->ne = e->wp / 2 + 1;
  e->no = (e->wp - 1) / 2;
  e->ne_h = e->hp / 2 + 1;
  e->no_h = (e->hp - 1) / 2;
  e->line = wm.dims == 1;
}

// Projection columns per task: whole rows, or, with fewer rows than 4 a thread (a line at batch
// 1), rows cut into chunks of at least 64 columns so that every thread gets work.
int projection_columns(const Engine& e, int threads) {
  const long long rows = 1LL * e.pass * e.h, want = 4LL * threads;
  if (!e.fused_project || rows >= want) return e.w;
  const long long cut = (want + rows - 1) / rows;
  const long long cols = ((e.w + cut - 1) / cut + 15) / 16 * 16;
  return static_cast<int>(std::min<long long>(e.w, std::max<long long>(64, cols)));
}

// The lift constant lc as rows[ch][i] + cols[ch][j] inside the image, when every element is
// that sum to within 1e-6 of its channel's largest magnitude (a few float roundings: the bias
// and the grid's coordinates enter linearly, as the exporters write them). lc is (channels,
// plane_h, plane_w) with the image at (top, left): a WNO's 1x1 lift (C, Hp, Wp; zero in the
// padding), or the first map of neuraloperator's lifting MLP (lw, H, W). The lift then reads
// channels (H + W) floats instead of the planes, which came from memory every run (64x64: the
// WNO's 557 KB, the 1x1 lift 0.06-0.07 ms of a 2.1 ms run on one thread, 0.02 from cache).
bool separable_lift(const std::vector<float>& lc, long long channels, const Engine& e,
                    long long plane_h, long long plane_w, long long top, long long left,
                    std::vector<float>* rows, std::vector<float>* cols) {
  const long long H = e.h, W = e.w;
  rows->assign(static_cast<std::size_t>(channels * H), 0.f);
  cols->assign(static_cast<std::size_t>(channels * W), 0.f);
  for (long long ch = 0; ch < channels; ++ch) {
    auto at = [&](long long i, long long j) {
      return lc[static_cast<std::size_t>((ch * plane_h + top + i) * plane_w + left + j)];
    };
    float* r = rows->data() + ch * H;
    float* q = cols->data() + ch * W;
    float scale = 0.f;
    for (long long i = 0; i < H; ++i) {
      r[i] = at(i, 0);
      for (long long j = 0; j < W; ++j) scale = std::max(scale, std::fabs(at(i, j)));
    }
    for (long long j = 0; j < W; ++j) q[j] = at(0, j) - r[0];
    for (long long i = 0; i < H; ++i)
      for (long long j = 0; j < W; ++j)
        if (!(std::fabs((r[i] + q[j]) - at(i, j)) <= 1e-6f * scale)) return false;  // NaN: no
  }
  return true;
}

// Each layer's weights (the Winograd kernel's layout for 3x3 convs); false if the kernel
// refuses the shape.
bool plan_layers(const WnoMatch& wm, bool fno, Engine* e, Layout* lay) {
  const long long C = e->c;
  e->layers.resize(wm.layers.size());
  for (std::size_t i = 0; i < wm.layers.size(); ++i) {
    Layer& L = e->layers[i];
    const LayerMatch& M = wm.layers[i];
    L.winograd = !fno;
    L.gelu = M.gelu;
    L.gelu_out = M.gelu_out;
    L.desc = wno_conv_desc{e->pass, e->c, e->c, e->hp, e->wp, 1, fno ? 4 : M.tile, wm.dims};
    if (!fno) {
      const std::size_t ub = wno_cpu_weight_size(&L.desc);
      if (ub == 0) return false;
      lay->add(&L.u, static_cast<long long>(ub / sizeof(float)));
    } else {
      lay->add(&L.pointwise, C * C);
    }
    lay->add(&L.bias, C);
    if (M.mlp1_w >= 0) {
      lay->add(&L.mlp1_w, C * e->cmw);
      lay->add(&L.mlp1_b, e->cmw);
      lay->add(&L.mlp2_w, C * e->cmw);
      lay->add(&L.mlp2_b, C);
    }
    if (M.skip >= 0) {
      lay->add(&L.mlp_skip, C * C);
      lay->add(&L.mlp_skip_diag, C);
    }
    lay->add(&L.mix, C * C * 2 * e->modes_p);
  }
  return true;
}

// Lays out weights, activations and workspaces; false if a layer's shape is one the Winograd
// kernel refuses.
bool plan_arena(const WnoMatch& wm, int threads, bool separable, Engine* e, Layout* lay) {
  const long long C = e->c, Hp = e->hp, Wp = e->wp, M2 = e->m2, K1 = e->k1;
  const bool fno = wm.layers[0].kind == RealSpace::kPointwise;
  const long long image = C * Hp * Wp;  // floats of one image's field
  e->pass = static_cast<int>(std::clamp<long long>(Engine::kPassBytes / (image * 4), 1, e->n));
  if (const char* env = std::getenv("WNO_ENGINE_PASS_IMAGES"))
    e->pass = std::clamp(std::atoi(env), 1, e->n);
  const long long N = e->pass;  // the activations hold one pass
  if (wm.in_mean >= 0) lay->add(&e->in_mean, e->cin);
  if (wm.in_std >= 0) lay->add(&e->in_std, e->cin);
  if (wm.out_mean >= 0) lay->add(&e->out_mean, e->cout);
  if (wm.out_std >= 0) lay->add(&e->out_std, e->cout);
  if (wm.lift) {
    lay->add(&e->lift_w, (e->lw ? e->lw : C) * e->cin);
    if (separable) {
      const long long channels = e->lw ? e->lw : C;
      lay->add(&e->lift_rows, channels * e->h);
      lay->add(&e->lift_cols, channels * e->w);
    } else {
      lay->add(&e->lift_c, e->lw ? 1LL * e->lw * e->h * e->w : C * Hp * Wp);
    }
    lay->add(&e->xn, N * e->cin * e->h * e->w);
  }
  if (e->lw) {
    lay->add(&e->lift2_w, C * e->lw);
    lay->add(&e->lift2_b, C);
  }
  lay->add(&e->fwd_w_re, packed_floats(Wp, M2));
  lay->add(&e->fwd_w_im, packed_floats(Wp, M2));
  if (!e->line) {  // a line has no H transform
    lay->add(&e->fwd_h, 4 * K1 * Hp);
    lay->add(&e->inv_h, 4 * Hp * K1);
  }
  lay->add(&e->inv_w_re, packed_floats(M2, Wp));
  lay->add(&e->inv_w_im, packed_floats(M2, Wp));
  if (!plan_layers(wm, fno, e, lay)) return false;
  if (wm.project) {
    lay->add(&e->p1_w, e->proj * C);
    lay->add(&e->p1_b, e->proj);
    lay->add(&e->p2_w, 1LL * e->cout * e->proj);
    lay->add(&e->p2_b, e->cout);
  }
  lay->add(&e->buf[0], N * C * Hp * Wp);
  lay->add(&e->buf[1], N * C * Hp * Wp);
  lay->add(&e->spec_x, N * C * 2 * e->modes_p);  // zero past `modes`, never written there
  lay->add(&e->spec_o, N * C * 2 * e->modes_p);
  // Per-worker scratch: the largest of the stages' needs.
  const long long fold = Hp * (e->ne + e->no);
  const long long fwd = fold + 4 * Hp * M2 + packed_floats(2 * Hp, M2);
  const long long inv = 4 * Hp * M2 + packed_floats(2 * K1, M2) + fold;
  const long long line = e->line ? Engine::kLineRows * (e->ne + e->no) : 0;  // folded rows
  const long long prj = wm.project ? packed_floats(C, e->w) + 1LL * e->proj * e->w : 0;
  const long long pw = packed_floats(C, 256);
  const long long nop = std::max(e->lw ? lift_mlp_scratch(e->cin, e->h, e->w, e->lw, e->c) : 0,
                                 channel_mlp_scratch(e->c, e->cmw));
  e->scratch_floats =
      std::max<long long>((std::max({fwd, inv, prj, pw, line}) + 15) & ~15LL, (nop + 15) & ~15LL);
  e->proj_cols = projection_columns(*e, threads);
  lay->add(&e->scratch, e->scratch_floats * threads);
  if (!fno) {
    const char* fused = std::getenv("WNO_ENGINE_FUSED_EPILOGUE");
    e->fused_epilogue = fused && std::strcmp(fused, "1") == 0;
    e->conv_group =
        e->fused_epilogue
            ? e->pass
            : static_cast<int>(std::clamp<long long>(Engine::kConvGroupBytes / (image * 4), 1, N));
    if (!e->fused_epilogue) lay->add(&e->conv_out, e->conv_group * image);
    // The tiles may differ between layers; the last group of a pass, and of the last pass, may
    // hold fewer images.
    for (const Layer& L : e->layers)
      for (const int batch :
           {e->conv_group, e->pass % e->conv_group, e->n % e->pass % e->conv_group}) {
        if (!batch) continue;
        wno_conv_desc d = L.desc;
        d.batch = batch;
        e->conv_ws_bytes = std::max(e->conv_ws_bytes, wno_cpu_workspace_size(&d, threads));
      }
    lay->add(reinterpret_cast<char**>(&e->conv_ws), static_cast<long long>(e->conv_ws_bytes));
  }
  return true;
}

// W fold: the bases even (cos) / odd (sin) in w <-> Wp - w, sin zero at w = 0 (to float32
// rounding, as the exporter's are); packs fwd_w and inv_w either way.
void pack_w_bases(const std::vector<float>& fwd_w, const std::vector<float>& inv_w, Engine* e) {
  const long long Wp = e->wp, M2 = e->m2;
  const float tol = 1e-6f;
  e->fold_w = e->wp >= 3;
  for (long long w = 1; e->fold_w && w < Wp; ++w)
    for (long long q = 0; q < M2; ++q) {
      const long long w2 = Wp - w;
      e->fold_w = e->fold_w && std::fabs(fwd_w[w * 2 * M2 + q] - fwd_w[w2 * 2 * M2 + q]) <= tol &&
                  std::fabs(fwd_w[w * 2 * M2 + M2 + q] + fwd_w[w2 * 2 * M2 + M2 + q]) <= tol &&
                  std::fabs(inv_w[q * Wp + w] - inv_w[q * Wp + w2]) <= tol &&
                  std::fabs(inv_w[(M2 + q) * Wp + w] + inv_w[(M2 + q) * Wp + w2]) <= tol;
    }
  for (long long q = 0; e->fold_w && q < M2; ++q)  // sin vanishes at w = 0 (and W / 2)
    e->fold_w = std::fabs(fwd_w[M2 + q]) <= tol && std::fabs(inv_w[(M2 + q) * Wp]) <= tol;
  if (e->fold_w) {
    e->k->pack_b(e->ne, e->m2, fwd_w.data(), 2 * M2, e->fwd_w_re);
    e->k->pack_b(e->no, e->m2, fwd_w.data() + 2 * M2 + M2, 2 * M2, e->fwd_w_im);
    e->k->pack_b(e->m2, e->ne, inv_w.data(), Wp, e->inv_w_re);
    e->k->pack_b(e->m2, e->no, inv_w.data() + M2 * Wp + 1, Wp, e->inv_w_im);
  } else {
    e->k->pack_b(e->wp, e->m2, fwd_w.data(), 2 * M2, e->fwd_w_re);
    e->k->pack_b(e->wp, e->m2, fwd_w.data() + M2, 2 * M2, e->fwd_w_im);
    e->k->pack_b(e->m2, e->wp, inv_w.data(), Wp, e->inv_w_re);
    e->k->pack_b(e->m2, e->wp, inv_w.data() + M2 * Wp, Wp, e->inv_w_im);
  }
}

// H fold: each block of the bases even or odd in h <-> Hp - h, odd blocks zero at h = 0 (and
// Hp / 2 when Hp is even).
bool h_symmetric(const std::vector<float>& fwd_h, const std::vector<float>& inv_h,
                 const Engine& e) {
  const long long Hp = e.hp, K1 = e.k1;
  const float tol = 1e-6f;
  auto parity = [&](const std::vector<float>& b, long long ld, long long r0, long long c0,
                    bool h_in_rows, float sign) {
    for (long long kk = 0; kk < K1; ++kk)
      for (long long hh = 0; hh < Hp; ++hh) {
        auto at = [&](long long h) {
          return h_in_rows ? b[(r0 + h) * ld + c0 + kk] : b[(r0 + kk) * ld + c0 + h];
        };
        const float a = at(hh), mirror = at(hh == 0 ? 0 : Hp - hh);
        if (std::fabs(a - sign * mirror) > tol) return false;
      }
    return true;
  };
  bool ok = Hp >= 3 && parity(fwd_h, 2 * Hp, 0, 0, false, 1) &&
            parity(fwd_h, 2 * Hp, 0, Hp, false, -1) && parity(fwd_h, 2 * Hp, K1, 0, false, -1) &&
            parity(fwd_h, 2 * Hp, K1, Hp, false, 1) && parity(inv_h, 2 * K1, 0, 0, true, 1) &&
            parity(inv_h, 2 * K1, 0, K1, true, -1) && parity(inv_h, 2 * K1, Hp, 0, true, -1) &&
            parity(inv_h, 2 * K1, Hp, K1, true, 1);
  if (ok && Hp % 2 == 0)  // the odd blocks vanish at Hp / 2 too
    for (long long kk = 0; kk < K1; ++kk)
      ok = ok && std::fabs(fwd_h[kk * 2 * Hp + Hp + Hp / 2]) <= tol &&
           std::fabs(fwd_h[(K1 + kk) * 2 * Hp + Hp / 2]) <= tol &&
           std::fabs(inv_h[(Hp / 2) * 2 * K1 + K1 + kk]) <= tol &&
           std::fabs(inv_h[(Hp + Hp / 2) * 2 * K1 + kk]) <= tol;
  return ok;
}

void pack_h_bases(const std::vector<float>& fwd_h, const std::vector<float>& inv_h, Engine* e) {
  e->fold_h = h_symmetric(fwd_h, inv_h, *e);
  if (!e->fold_h) {
    put(e->fwd_h, fwd_h);
    put(e->inv_h, inv_h);
    return;
  }
  const long long Hp = e->hp, K1 = e->k1;
  const int ne_h = e->ne_h, no_h = e->no_h;
  float* a1 = e->fwd_h;
  float* a2 = e->fwd_h + K1 * Hp;
  for (long long kk = 0; kk < K1; ++kk) {
    const float* top = fwd_h.data() + kk * 2 * Hp;         // [c | s]
    const float* bot = fwd_h.data() + (K1 + kk) * 2 * Hp;  // [-s | c]
    for (int h = 0; h < ne_h; ++h) {
      a1[kk * Hp + h] = top[h];
      a2[kk * Hp + h] = bot[Hp + h];
    }
    for (int j = 1; j <= no_h; ++j) {
      a1[kk * Hp + ne_h + j - 1] = top[Hp + j];
      a2[kk * Hp + ne_h + j - 1] = bot[j];
    }
  }
  float* hre = e->inv_h;            // rows: even part of Z_re's, odd part of Z_im's O_re terms
  float* him = e->inv_h + Hp * K1;  // rows: even part of Z_im's, odd part of Z_re's O_im terms
  for (int h = 0; h < ne_h; ++h)
    for (long long kk = 0; kk < K1; ++kk) {
      hre[h * K1 + kk] = inv_h[h * 2 * K1 + kk];
      him[h * K1 + kk] = inv_h[(Hp + h) * 2 * K1 + K1 + kk];
    }
  for (int j = 1; j <= no_h; ++j)
    for (long long kk = 0; kk < K1; ++kk) {
      hre[(ne_h + j - 1) * K1 + kk] = inv_h[(Hp + j) * 2 * K1 + kk];
      him[(ne_h + j - 1) * K1 + kk] = inv_h[j * 2 * K1 + K1 + kk];
    }
}

// (mode, 1, c, [o | O + o]) -> (o, mode block, c, [re, im], mode in block); zero padded
void pack_mixing(const std::vector<float>& mixing, const Engine& e, float* mix) {
  const long long C = e.c, blocks = e.modes_p / kModeBlock;
  for (long long q = 0; q < e.modes; ++q)
    for (long long ci = 0; ci < C; ++ci) {
      const long long row = (q * C + ci) * 2 * C;
      for (long long o = 0; o < C; ++o) {
        float* dst =
            mix + ((o * blocks + q / kModeBlock) * C + ci) * 2 * kModeBlock + q % kModeBlock;
        dst[0] = mixing[static_cast<std::size_t>(row + o)];
        dst[kModeBlock] = mixing[static_cast<std::size_t>(row + C + o)];
      }
    }
}

Error fill_layers(const Source& src, const Graph& g, const WnoMatch& wm, Engine* e) {
  for (std::size_t i = 0; i < wm.layers.size(); ++i) {
    Layer& L = e->layers[i];
    const LayerMatch& M = wm.layers[i];
    put(L.bias, g.floats(M.bias));
    if (M.mlp1_w >= 0) {
      put(L.mlp1_w, weights(g, wm, M.mlp1_w));
      put(L.mlp1_b, g.floats(M.mlp1_b));
      put(L.mlp2_w, weights(g, wm, M.mlp2_w));
      put(L.mlp2_b, g.floats(M.mlp2_b));
    }
    if (M.skip >= 0) {
      put(L.mlp_skip, g.floats(M.skip));
      if (diagonal(L.mlp_skip, e->c, L.mlp_skip_diag))
        L.mlp_skip = nullptr;
      else
        L.mlp_skip_diag = nullptr;
    }
    const std::vector<float> wt = g.floats(M.weight);
    if (L.winograd) {
      const wno_status s =
          wno_cpu_transform_weights(&L.desc, wt.data(), L.u, wno_cpu_weight_size(&L.desc));
      if (s != WNO_SUCCESS) return {s, "transforming layer weights failed"};
    } else {
      put(L.pointwise, wt);
    }
    if (M.mixing < 0) {  // a DFT-form layer: its corners' weights, gathered by the matcher
      pack_mixing(M.mixing_data, *e, L.mix);
      continue;
    }
    pack_mixing(g.floats(M.mixing), *e, L.mix);
    src.drop(g.value(M.mixing).init->data);
  }
  return {WNO_SUCCESS, ""};
}

}  // namespace

Error load_fused(const Source& src, const Graph& g, const WnoMatch& wm, int threads,
                 long long max_bytes, Engine* e) {
  set_shapes(wm, e);
  e->k = &pick_kernels();
  Layout lay(max_bytes);
  // The lift's constant (the 1x1 lift's, or the lifting MLP's first map's), read once: stored
  // whole or as row and column terms.
  std::vector<float> lift_c, lift_rows, lift_cols;
  if (wm.lift) {
    lift_c = g.floats(wm.lift_c);
    src.drop(g.value(wm.lift_c).init->data);
  }
  const bool separable = wm.lift && (e->lw ? separable_lift(lift_c, e->lw, *e, e->h, e->w, 0, 0,
                                                            &lift_rows, &lift_cols)
                                           : separable_lift(lift_c, e->c, *e, e->hp, e->wp, e->top,
                                                            e->left, &lift_rows, &lift_cols));
  if (!plan_arena(wm, threads, separable, e, &lay))
    return invalid("the Winograd kernel refuses a layer of shape " + std::to_string(e->c) + "x" +
                   std::to_string(e->hp) + "x" + std::to_string(e->wp));
  if (lay.overflow())
    return invalid("the fused pipeline needs more than the memory cap of " +
                   std::to_string(max_bytes >> 20) + " MiB (max_memory_mb)");
  e->arena_bytes = static_cast<std::size_t>(lay.bytes());
  e->arena = std::aligned_alloc(64, e->arena_bytes);
  if (!e->arena) return {WNO_ERROR_OUT_OF_MEMORY, "cannot allocate the engine's arena"};
  std::memset(e->arena, 0, e->arena_bytes);
  lay.assign(static_cast<char*>(e->arena));

  if (wm.in_mean >= 0) put(e->in_mean, g.floats(wm.in_mean));
  if (wm.in_std >= 0) put(e->in_std, g.floats(wm.in_std));
  if (wm.out_mean >= 0) put(e->out_mean, g.floats(wm.out_mean));
  if (wm.out_std >= 0) put(e->out_std, g.floats(wm.out_std));
  if (wm.lift) {
    put(e->lift_w, g.floats(wm.lift_w));
    put(separable ? e->lift_rows : e->lift_c, separable ? lift_rows : lift_c);
    if (separable) put(e->lift_cols, lift_cols);
  }
  if (e->lw) {
    put(e->lift2_w, weights(g, wm, wm.lift2_w));
    put(e->lift2_b, g.floats(wm.lift2_b));
  }
  // The bases: initializers, or the matcher's for a DFT-form file (wm.dft_nodes).
  auto basis = [&](int id, int k) { return wm.dft_nodes ? wm.bases[k] : g.floats(id); };
  pack_w_bases(basis(wm.fwd_w, 0), basis(wm.inv_w, 3), e);
  // A line has no H transform (its DFTs run without one: line_dft_forward / _inverse).
  if (!e->line) pack_h_bases(basis(wm.fwd_h, 1), basis(wm.inv_h, 2), e);
  if (wm.project) {
    put(e->p1_w, g.floats(wm.p1_w));
    put(e->p1_b, g.floats(wm.p1_b));
    put(e->p2_w, weights(g, wm, wm.p2_w));
    put(e->p2_b, g.floats(wm.p2_b));
  }
  return fill_layers(src, g, wm, e);
}

}  // namespace wno::engine
