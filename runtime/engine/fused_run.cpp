// The fused WNO pipeline, one run (channel-first NCHW throughout, no transposes):
//   normalise + lift (1x1 conv + the lift/grid constant, zero in the domain padding)
//   per layer: spectral branch   T = v @ fwd_w (re, im halves)      per (n, c): GEMM Hp x m2 x Wp
//                                X = fwd_h @ [T_re; T_im]           GEMM 2K1 x m2 x 2Hp
//                                O = per-mode complex mixing        over modes, per out channel
//                                Z = inv_h @ [O_re; O_im]           per (n, o): GEMM 2Hp x m2 x 2K1
//                                s = Z_re @ inv_w_re + Z_im @ inv_w_im          GEMM Hp x Wp x m2
//              real-space branch v' = gelu(conv3x3(v; k + W) + b + s) over s (no GELU after the
//                                last layer): the Winograd kernel's conv + bias, then one pass
//                                of ours (or its fused epilogue, $WNO_ENGINE_FUSED_EPILOGUE=1);
//                                FNO files: a 1x1 conv GEMM accumulated onto s, bias, GELU
//   crop, projection per image row (or part of one): gelu(P1 v + b1) -> P2 . + b2 -> * std + mean
// A batch runs all of this on a few images at a time (a pass: Engine::pass), so the fields
// stay in cache between stages.
// A 1-D graph (a line) has no H transform: its DFTs are one GEMM per group of rows (channels).
// The DFT GEMMs are folded on the bases' symmetry (cos even, sin odd under w -> W - w and
// h -> H - h; checked at load): sums and differences of mirrored rows/columns first, then
// half-size GEMMs, half the multiplies. Bases without the symmetry run unfolded.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "../src/cpu/cpu_kernel.h"
#include "engine_impl.h"
#include "neuralop_block.h"

namespace wno::engine {
namespace {

using Clock = std::chrono::steady_clock;

// The kernel's parallel-for on the engine's pool. Its first region also runs the joint tasks,
// ordered per worker: worker w's range (the pool's even split) holds its share of the conv's
// tasks, then its share of the joint ones, so the small tasks come last, where the workers
// steal from each other (the conv's blocks are few and large: 5 of 64 tiles at 66 x 66).
struct JointRegion {
  Pool* pool;
  Engine::JointTasks joint;
  long long kn = 0;  // the conv's tasks in this region
  wno_task_fn kfn = nullptr;
  void* kctx = nullptr;

  static void task(void* p, long long t, int worker) {
    const JointRegion& r = *static_cast<const JointRegion*>(p);
    const int parts = r.pool->threads();
    for (int w = 0; w < parts; ++w) {
      const long long k0 = r.kn * w / parts, k1 = r.kn * (w + 1) / parts;
      const long long j0 = r.joint.n * w / parts, j1 = r.joint.n * (w + 1) / parts;
      if (t < k1 - k0) return r.kfn(r.kctx, k0 + t, worker);
      t -= k1 - k0;
      if (t < j1 - j0) return r.joint.fn(r.joint.ctx, j0 + t, worker);
      t -= j1 - j0;
    }
  }
  static void parallel_for(void* p, long long n, wno_task_fn fn, void* ctx) {
    JointRegion& r = *static_cast<JointRegion*>(p);
    if (!r.joint.n) return r.pool->run(n, fn, ctx);
    r.kn = n;
    r.kfn = fn;
    r.kctx = ctx;
    r.pool->run(n + r.joint.n, task, &r);
    r.joint.n = 0;
  }
};

template <class F>
Engine::JointTasks joint_tasks(long long n, F& f) {
  return {n, wno::callable_fn<F>(), &f};
}

}  // namespace

// Normalise (as the graph: (x - mean) / std) into xn, then lift into buf[0] (zero in the padding).
void Engine::lift_stage(const float* x, int images) {
  const long long hw = 1LL * h * w, hpwp = 1LL * hp * wp;
  for (int b = 0; b < images; ++b)
    for (int ci = 0; ci < cin; ++ci) {
      const float* src = x + (1LL * b * cin + ci) * hw;
      float* dst = xn + (1LL * b * cin + ci) * hw;
      const float mean = in_mean ? in_mean[ci] : 0.f;
      if (in_std) {
        const float sd = in_std[ci];
        for (long long i = 0; i < hw; ++i) dst[i] = (src[i] - mean) / sd;
      } else {
        for (long long i = 0; i < hw; ++i) dst[i] = src[i] - mean;
      }
    }
  auto lift = [&](long long task, int) {
    const int b = static_cast<int>(task / c), ch = static_cast<int>(task % c);
    float* out = buf[0] + (1LL * b * c + ch) * hpwp;
    for (long long i = 0; i < 1LL * top * wp; ++i) out[i] = 0.f;
    const float* src = xn + 1LL * b * cin * hw;
    const float* wc = lift_w + ch * cin;
    for (int i = 0; i < h; ++i) {
      float* row = out + 1LL * (top + i) * wp;
      for (int j = 0; j < left; ++j) row[j] = 0.f;
      if (lift_rows)
        k->lift_row(w, cin, src + 1LL * i * w, hw, wc, lift_rows[ch * h + i], lift_cols + ch * w,
                    row + left);
      else
        k->lift_row(w, cin, src + 1LL * i * w, hw, wc, 0.f,
                    lift_c + (1LL * ch * hp + top + i) * wp + left, row + left);
      for (int j = left + w; j < wp; ++j) row[j] = 0.f;
    }
    for (long long i = 1LL * (top + h) * wp; i < hpwp; ++i) out[i] = 0.f;
  };
  if (lw)
    lift_mlp(StageRun{*k, *pool, scratch, scratch_floats},
             LiftMlp{images, cin, h, w, lw, c, hp, wp, top, left, lift_w, lift_c, lift2_w, lift2_b,
                     lift_rows, lift_cols},
             xn, buf[0]);
  else
    parallel(*pool, 1LL * images * c, lift);
}

// Forward truncated DFT of channel nc of v into spec_x.
void Engine::dft_forward(const float* v, long long nc, int worker) const {
  const Kernels& K = *k;
  const long long hpwp = 1LL * hp * wp;
  float* ev = worker_scratch(worker);  // folded rows: even (Hp, ne), odd (Hp, no)
  float* od = ev + 1LL * hp * ne;
  float* t = od + 1LL * hp * no;  // [T_re; T_im]: (2 Hp, m2)
  float* tp = t + 2LL * hp * m2;
  const float* vin = v + nc * hpwp;
  // Unfolded along H, [T_re; T_im] is the B of the H GEMMs: of one panel, written packed.
  const bool t_packed = !fold_h && m2 <= kNr;
  float* tw = t_packed ? tp : t;
  const long long ldt = t_packed ? kNr : m2;
  if (fold_w) {
    K.fold(hp, vin, wp, wp, ev, od);
    K.gemm_packed(hp, m2, ne, ev, ne, fwd_w_re, tw, ldt, false);
    K.gemm_packed(hp, m2, no, od, no, fwd_w_im, tw + hp * ldt, ldt, false);
  } else {
    K.gemm_packed(hp, m2, wp, vin, wp, fwd_w_re, tw, ldt, false);
    K.gemm_packed(hp, m2, wp, vin, wp, fwd_w_im, tw + hp * ldt, ldt, false);
  }
  float* x = spec_x + nc * 2 * modes_p;  // X_re (K1, m2), X_im at + modes_p
  if (fold_h) {  // [E_re; O_im] and [E_im; O_re]: (Hp, m2) each, the B of the two GEMMs
    float* bp2 = tp + packed_floats(hp, m2);
    const bool packed = m2 <= kNr;  // one panel: packed B is rows of kNr floats; fold into it
    const long long ldb = packed ? kNr : m2;
    float* b1 = packed ? tp : tp + packed_floats(2 * hp, m2);
    float* b2 = packed ? bp2 : b1 + 1LL * hp * m2;
    K.fold_rows(hp, m2, t, m2, b1, ldb, b2 + ne_h * ldb, ldb);
    K.fold_rows(hp, m2, t + 1LL * hp * m2, m2, b2, ldb, b1 + ne_h * ldb, ldb);
    if (!packed) {
      K.pack_b(hp, m2, b1, m2, tp);
      K.pack_b(hp, m2, b2, m2, bp2);
    }
    K.gemm_packed(k1, m2, hp, fwd_h, hp, tp, x, m2, false);
    K.gemm_packed(k1, m2, hp, fwd_h + 1LL * k1 * hp, hp, bp2, x + modes_p, m2, false);
  } else {
    if (!t_packed) K.pack_b(2 * hp, m2, t, m2, tp);
    K.gemm_packed(k1, m2, 2 * hp, fwd_h, 2 * hp, tp, x, m2, false);
    K.gemm_packed(k1, m2, 2 * hp, fwd_h + 2LL * k1 * hp, 2 * hp, tp, x + modes_p, m2, false);
  }
}

// Inverse DFT of channel nco of spec_o into s.
void Engine::dft_inverse(float* s, long long nco, int worker) const {
  const Kernels& K = *k;
  const long long hpwp = 1LL * hp * wp;
  float* z = worker_scratch(worker);  // [Z_re; Z_im]: (2 Hp, m2)
  float* op = z + 2LL * hp * m2;
  const float* o_nc = spec_o + nco * 2 * modes_p;  // O_re (K1, m2), O_im at + modes_p
  if (fold_h) {
    float* op2 = op + packed_floats(k1, m2);
    float* r1 = op + packed_floats(2 * k1, m2);  // [P1; Q2], then [P2; Q1]: (Hp, m2)
    float* r2 = r1 + 1LL * hp * m2;
    K.pack_b(k1, m2, o_nc, m2, op);
    K.pack_b(k1, m2, o_nc + modes_p, m2, op2);
    K.gemm_packed(hp, m2, k1, inv_h, k1, op, r1, m2, false);
    K.gemm_packed(hp, m2, k1, inv_h + 1LL * hp * k1, k1, op2, r2, m2, false);
    // r1 = [P1; Q2], r2 = [P2; Q1]: Z_re from P1 and Q1, Z_im from P2 and Q2
    K.unfold_rows(hp, m2, r1, m2, r2 + 1LL * ne_h * m2, m2, z, m2);
    K.unfold_rows(hp, m2, r2, m2, r1 + 1LL * ne_h * m2, m2, z + 1LL * hp * m2, m2);
  } else {
    if (m2 <= kNr) {  // one panel: rows of kNr floats, O_im's after O_re's
      K.pack_b(k1, m2, o_nc, m2, op);
      K.pack_b(k1, m2, o_nc + modes_p, m2, op + 1LL * k1 * kNr);
    } else {
      float* o2 = op + packed_floats(2 * k1, m2);  // [O_re; O_im] contiguous, for one packing
      std::memcpy(o2, o_nc, sizeof(float) * k1 * m2);
      std::memcpy(o2 + 1LL * k1 * m2, o_nc + modes_p, sizeof(float) * k1 * m2);
      K.pack_b(2 * k1, m2, o2, m2, op);
    }
    K.gemm_packed(2 * hp, m2, 2 * k1, inv_h, 2 * k1, op, z, m2, false);
  }
  float* out = s + nco * hpwp;
  if (fold_w) {
    float* pe = op + packed_floats(2 * k1, m2);  // (Hp, ne) even part, (Hp, no) odd part
    float* qo = pe + 1LL * hp * ne;
    K.gemm_packed(hp, ne, m2, z, m2, inv_w_re, pe, ne, false);
    K.gemm_packed(hp, no, m2, z + 1LL * hp * m2, m2, inv_w_im, qo, no, false);
    K.unfold(hp, pe, qo, wp, out, wp);
  } else {
    K.gemm_packed(hp, wp, m2, z, m2, inv_w_re, out, wp, false);
    K.gemm_packed(hp, wp, m2, z + 1LL * hp * m2, m2, inv_w_im, out, wp, true);
  }
}

// A line's forward DFT of rows [r0, r0 + rows) of v (rows are (n, c) pairs): X_re and X_im of
// each row straight into spec_x (stride 2 modes_p), one GEMM of `rows` rows each.
void Engine::line_dft_forward(const float* v, long long r0, int rows, int worker) const {
  const Kernels& K = *k;
  const float* vin = v + r0 * wp;
  float* x = spec_x + r0 * 2 * modes_p;
  const long long ldx = 2 * modes_p;
  if (!fold_w) {
    K.gemm_packed(rows, m2, wp, vin, wp, fwd_w_re, x, ldx, false);
    K.gemm_packed(rows, m2, wp, vin, wp, fwd_w_im, x + modes_p, ldx, false);
    return;
  }
  float* ev = worker_scratch(worker);  // (rows, ne) sums, then (rows, no) differences
  float* od = ev + 1LL * rows * ne;
  K.fold(rows, vin, wp, wp, ev, od);
  K.gemm_packed(rows, m2, ne, ev, ne, fwd_w_re, x, ldx, false);
  K.gemm_packed(rows, m2, no, od, no, fwd_w_im, x + modes_p, ldx, false);
}

// A line's inverse DFT of rows [r0, r0 + rows) of spec_o into s.
void Engine::line_dft_inverse(float* s, long long r0, int rows, int worker) const {
  const Kernels& K = *k;
  const float* o = spec_o + r0 * 2 * modes_p;  // O_re (m2), O_im at + modes_p, per row
  const long long ldo = 2 * modes_p;
  float* out = s + r0 * wp;
  if (!fold_w) {
    K.gemm_packed(rows, wp, m2, o, ldo, inv_w_re, out, wp, false);
    K.gemm_packed(rows, wp, m2, o + modes_p, ldo, inv_w_im, out, wp, true);
    return;
  }
  float* pe = worker_scratch(worker);  // (rows, ne) even part, (rows, no) odd part
  float* qo = pe + 1LL * rows * ne;
  K.gemm_packed(rows, ne, m2, o, ldo, inv_w_re, pe, ne, false);
  K.gemm_packed(rows, no, m2, o + modes_p, ldo, inv_w_im, qo, no, false);
  K.unfold(rows, pe, qo, wp, out, wp);
}

wno_status Engine::winograd_conv(const Layer& L, const float* v, int b0, int count,
                                 const float* addend, bool gelu, float* y, JointTasks joint) {
  JointRegion region{pool.get(), joint};
  wno::Parallel par;
  par.run = JointRegion::parallel_for;
  par.pool = &region;
  par.threads = pool->threads();
  par.balanced = joint.n > 0;  // the joint tasks even the threads out: blocks sized for speed
  wno_conv_desc group = L.desc;
  group.batch = count;
  const wno_status st =
      wno::cpu_conv2d(&group, v + 1LL * b0 * c * hp * wp, L.u, L.bias, addend,
                      gelu ? WNO_ACT_GELU : WNO_ACT_NONE, y, conv_ws, conv_ws_bytes, par);
  if (region.joint.n)  // the kernel opened no region: the joint tasks run on their own
    pool->run(region.joint.n, region.joint.fn, region.joint.ctx);
  return st;
}

// The real-space conv and the layer's tail over s (which holds the spectral branch).
wno_status Engine::real_space(const Layer& L, const float* v, float* s, int images, bool joint) {
  const Kernels& K = *k;
  Pool& P = *pool;
  const StageRun run{K, P, scratch, scratch_floats};
  const ChannelMlp mlp{c, cmw, L.mlp1_w, L.mlp1_b, L.mlp2_w, L.mlp2_b, L.mlp_skip, L.mlp_skip_diag};
  const long long hpwp = 1LL * hp * wp;
  if (L.winograd) {  // the kernel runs on this pool (a second one would fight it for cores)
    // s = act(conv(v) + bias + s), written over s.
    if (fused_epilogue) {
      const wno_status st = winograd_conv(L, v, 0, images, s, L.gelu, s, {});
      if (st != WNO_SUCCESS) return st;
    } else if (!joint) {
      for (int b0 = 0; b0 < images; b0 += conv_group) {  // conv_out and s stay in cache between
        const int count = std::min(conv_group, images - b0);
        const wno_status st = winograd_conv(L, v, b0, count, nullptr, false, conv_out, {});
        if (st != WNO_SUCCESS) return st;
        const long long at = 1LL * b0 * c * hpwp;
        auto sum = [&](long long nc, int) {
          K.add_act(hpwp, conv_out + nc * hpwp, s + at + nc * hpwp, L.gelu);
        };
        parallel(P, 1LL * count * c, sum);
      }
    }
  } else if (L.mlp1_w || L.gelu_out) {  // W v, GELU, channel MLP + skip, GELU: one pass
    fno_layer(run, mlp, L.pointwise, L.bias, images, hpwp, s, v, !L.gelu);
  } else {
    const long long chunks = (hpwp + kChunk - 1) / kChunk;
    auto pointwise = [&](long long task, int worker) {
      const long long b = task / chunks, j0 = (task % chunks) * kChunk;
      const int cw = static_cast<int>(std::min<long long>(kChunk, hpwp - j0));
      float* bp = worker_scratch(worker);
      K.pack_b(c, cw, v + b * c * hpwp + j0, hpwp, bp);
      float* out = s + b * c * hpwp + j0;
      K.gemm_packed(c, cw, c, L.pointwise, c, bp, out, hpwp, true);
      K.bias_act(c, cw, out, hpwp, L.bias, L.gelu);
    };
    parallel(P, images * chunks, pointwise);
  }
  if (L.winograd) {  // neuraloperator's block: GELU (above), channel MLP + skip, GELU
    if (L.mlp1_w)
      channel_mlp(run, mlp, images, hpwp, s, v, L.gelu_out);
    else if (L.gelu_out)
      gelu_inplace(K, P, 1LL * images * c, hpwp, s);
  }
  return WNO_SUCCESS;
}

// Crop and project columns [j0, j0 + proj_cols) of image row `task / chunks` (batch-major)
// into y.
void Engine::project_row(const float* v, float* y, long long task, int worker) const {
  const Kernels& K = *k;
  const long long hw = 1LL * h * w, hpwp = 1LL * hp * wp;
  const long long chunks = (w + proj_cols - 1) / proj_cols;
  const long long row = task / chunks, b = row / h, i = row % h;
  const int j0 = static_cast<int>(task % chunks) * proj_cols;
  const int cols = std::min(proj_cols, w - j0);
  float* bp = worker_scratch(worker);
  float* h1 = bp + packed_floats(c, cols);
  K.pack_b(c, cols, v + b * c * hpwp + (top + i) * wp + left + j0, hpwp, bp);
  K.gemm_packed(proj, cols, c, p1_w, c, bp, h1, cols, false);
  float* out = y + b * cout * hw + i * w + j0;
  K.act_dot(proj, cols, h1, cols, p1_b, proj_act, cout, p2_w, out, hw);
  K.bias_act(cout, cols, out, hw, p2_b, false);
  if (out_std || out_mean)
    for (int o = 0; o < cout; ++o) {
      float* r = out + o * hw;
      const float sd = out_std ? out_std[o] : 1.f, mean = out_mean ? out_mean[o] : 0.f;
      if (out_std)
        for (int j = 0; j < cols; ++j) r[j] *= sd;
      if (out_mean)
        for (int j = 0; j < cols; ++j) r[j] += mean;
    }
}

wno_status Engine::run_fused(const float* x, float* y) {
  const long long in_image = fused_lift ? 1LL * cin * h * w : 1LL * c * hp * wp;
  const long long out_image = fused_project ? 1LL * cout * h * w : 1LL * c * hp * wp;
  wno_status st = WNO_SUCCESS;
  for (int b0 = 0; b0 < n && st == WNO_SUCCESS; b0 += pass)
    st = run_pass(x + b0 * in_image, y + b0 * out_image, std::min(pass, n - b0));
  pool->park();  // between runs (a control loop's tick) the helpers sleep
  return st;
}

wno_status Engine::run_pass(const float* x, float* y, int images) {
  const std::size_t field = static_cast<std::size_t>(images) * c * hp * wp;
  Pool& P = *pool;
  Clock::time_point t0 = profile ? Clock::now() : Clock::time_point{};
  auto lap = [&](std::size_t stage) {  // 0 lift, 1 + kLayerSteps * layer + step, then projection
    if (!profile) return;
    const Clock::time_point t1 = Clock::now();
    stage_s[stage] += std::chrono::duration<double>(t1 - t0).count();
    t0 = t1;
  };
  if (fused_lift)
    lift_stage(x, images);
  else
    std::memcpy(buf[0], x, field * sizeof(float));
  lap(0);
  float* v = buf[0];
  float* s = buf[1];
  const long long rows = 1LL * images * c, groups = (rows + kLineRows - 1) / kLineRows;
  const long long hpwp = 1LL * hp * wp;
  auto group_rows = [&](long long g) {
    return static_cast<int>(std::min<long long>(kLineRows, rows - g * kLineRows));
  };
  bool forward_done = false;  // this layer's forward DFTs ran in the last layer's inverse tasks
  for (std::size_t li = 0; li < layers.size(); ++li) {
    const Layer& L = layers[li];
    const std::size_t stage = 1 + kLayerSteps * li;
    // Joint (the pass in one conv group, as at batch 1): the conv, which reads only v,
    // runs in the mixing's region, and each inverse DFT task sums its rows with the conv's
    // output and, unless the layer ends in a channel MLP, runs the next layer's forward DFT of
    // them: two regions a layer instead of five, each channel's rows in cache from one step to
    // the next, and the mixing's small tasks even out the conv's few large ones. Profiling
    // keeps the stages apart, so that each one's time is its own.
    const bool joint = L.winograd && !fused_epilogue && images <= conv_group && !profile;
    const bool chain = joint && li + 1 < layers.size() && !L.mlp1_w && !L.gelu_out;
    auto forward = [&](long long nc, int worker) { dft_forward(v, nc, worker); };
    auto line_forward = [&](long long g, int worker) {
      line_dft_forward(v, g * kLineRows, group_rows(g), worker);
    };
    if (!forward_done) {
      if (line)
        parallel(P, groups, line_forward);
      else
        parallel(P, rows, forward);
    }
    lap(stage);
    auto mixing = [&](long long o, int) {
      const int o0 = static_cast<int>(o) * kMixGroup;
      k->mix(images, c, c, o0, std::min(c, o0 + kMixGroup), modes_p, spec_x, L.mix, spec_o);
    };
    const long long mix_tasks = (c + kMixGroup - 1) / kMixGroup;
    if (joint) {
      const wno_status st =
          winograd_conv(L, v, 0, images, nullptr, false, conv_out, joint_tasks(mix_tasks, mixing));
      if (st != WNO_SUCCESS) return st;
    } else {
      parallel(P, mix_tasks, mixing);
    }
    lap(stage + 1);
    // Rows [r0, r0 + n) of s after their inverse DFT: joint, s = act(conv + bias + s), then
    // (chain) the next layer's forward DFT of them.
    auto after_inverse = [&](long long r0, long long n, int worker) {
      if (!joint) return;
      k->add_act(n * hpwp, conv_out + r0 * hpwp, s + r0 * hpwp, L.gelu);
      if (!chain) return;
      if (line)
        line_dft_forward(s, r0, static_cast<int>(n), worker);
      else
        dft_forward(s, r0, worker);
    };
    auto inverse = [&](long long nco, int worker) {
      dft_inverse(s, nco, worker);
      after_inverse(nco, 1, worker);
    };
    auto line_inverse = [&](long long g, int worker) {
      line_dft_inverse(s, g * kLineRows, group_rows(g), worker);
      after_inverse(g * kLineRows, group_rows(g), worker);
    };
    if (line)
      parallel(P, groups, line_inverse);
    else
      parallel(P, rows, inverse);
    lap(stage + 2);
    const wno_status st = real_space(L, v, s, images, joint);
    if (st != WNO_SUCCESS) return st;
    lap(stage + 3);
    forward_done = chain;
    std::swap(v, s);
  }
  auto project = [&](long long task, int worker) { project_row(v, y, task, worker); };
  if (fused_project)
    parallel(P, 1LL * images * h * ((w + proj_cols - 1) / proj_cols), project);
  else
    std::memcpy(y, v, field * sizeof(float));
  lap(1 + kLayerSteps * layers.size());
  return WNO_SUCCESS;
}

}  // namespace wno::engine
