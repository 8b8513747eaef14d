// The engine behind the C ABI (c_api.cpp): loading (load.cpp) reads the graph (graph.h), covers
// it with fusion patterns (match.h) and either fills the fused WNO pipeline (fused_load.cpp,
// run by fused_run.cpp) or, when the patterns do not cover the graph, runs it node by node on
// the reference kernels (reference.h). Either way it computes the graph in the file.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <sys/mman.h>

#include "compute.h"
#include "graph.h"
#include "match.h"
#include "onnx_reader.h"
#include "pool.h"
#include "reference.h"
#include "wno/engine.h"

namespace wno::engine {

// The steps a fused layer times (profile): stage "layer i <step>".
constexpr int kLayerSteps = 4;
inline const char* const kLayerStepNames[kLayerSteps] = {"dft forward", "spectral mixing",
                                                         "dft inverse", "conv+epilogue"};
constexpr long long kMaxFileBytes = 1LL << 31;
constexpr long long kDefaultMaxMemoryMb = 2048;  // wno_engine_options.max_memory_mb = 0

struct Error {
  wno_status status;
  std::string message;
};
inline Error invalid(std::string m) { return {WNO_ERROR_INVALID_ARGUMENT, std::move(m)}; }
inline Error unsupported(std::string m) { return {WNO_ERROR_UNSUPPORTED, std::move(m)}; }

// The file's bytes: a read-only private mapping (wno_engine_open) or the caller's memory. Pages
// of a mapping are dropped once read, so loading never holds the file and the arena at once
// (peak RSS ~ arena + one tensor).
struct Source {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  bool mapped = false;
  void drop(Bytes b) const {
    if (!mapped || b.size == 0) return;
    const std::uintptr_t page = 4096;
    const std::uintptr_t lo = (reinterpret_cast<std::uintptr_t>(b.data) + page - 1) & ~(page - 1);
    const std::uintptr_t hi = (reinterpret_cast<std::uintptr_t>(b.data) + b.size) & ~(page - 1);
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }
};

struct Layer {
  bool winograd = false;
  bool gelu = false;      // GELU on the layer's sum
  bool gelu_out = false;  // neuraloperator: the GELU after the channel MLP
  wno_conv_desc desc{};
  float* u = nullptr;          // transformed 3x3 weights (Winograd kernel layout)
  float* pointwise = nullptr;  // FNO: (O, C)
  float* bias = nullptr;       // (O)
  float* mix = nullptr;        // (O, C, 2, modes)
  // neuraloperator's channel MLP (neuralop_block.h): (hidden, C), (hidden), (C, hidden), (C),
  // skip (C, C), or its diagonal (C) (soft-gating, identity: no GEMM), or neither
  float *mlp1_w = nullptr, *mlp1_b = nullptr, *mlp2_w = nullptr, *mlp2_b = nullptr;
  float *mlp_skip = nullptr, *mlp_skip_diag = nullptr;
};

struct Engine {
  // what the plan and the ABI report
  std::string plan;
  std::string config_json;  // metadata wno_edge.config when it parses (informative only)
  std::vector<long long> in_dims, out_dims;
  std::unique_ptr<Pool> pool;
  std::mutex run_mu;
  bool profile = false;
  std::vector<std::string> stage_names;  // the plan's timed stages, in run order
  std::vector<double> stage_s;           // seconds per stage since open or reset
  long long runs = 0;

  // reference kernels (for the whole graph, or around a fused block): the file's bytes (the
  // graph points into them), the graph, its runner
  std::vector<std::uint8_t> file;
  ModelFile model;
  Graph graph;
  std::unique_ptr<ReferenceRunner> reference;
  double block_s = 0;  // profile: the fused block's share of the last reference run

  // fused path: shapes (match.h WnoMatch)
  int n = 0, cin = 0, cout = 0, h = 0, w = 0, hp = 0, wp = 0, c = 0, proj = 0;
  int m2 = 0, k1 = 0;
  int top = 0, left = 0;  // the image's offset in the padded grid
  int lw = 0, cmw = 0;    // neuraloperator's lifting MLP and channel MLP widths (0: none)
  int proj_act = kGelu;   // the projection's activation (compute.h Activation)
  bool fused_lift = false, fused_project = false;  // the block's ends (match.h)
  long long modes = 0;
  long long modes_p = 0;  // modes rounded up to kModeBlock: the stride of re and im in X and O
  const Kernels* k = nullptr;
  // one arena
  void* arena = nullptr;
  std::size_t arena_bytes = 0;
  // weights
  float *in_mean = nullptr, *in_std = nullptr, *out_mean = nullptr, *out_std = nullptr;
  float *lift_w = nullptr, *lift_c = nullptr;
  // The lift constant (bias and grid terms) is, to float rounding, a row term plus a column term
  // per channel: then lift_rows (C, H) and lift_cols (C, W) hold it, not lift_c (C, Hp, Wp), which
  // came from memory every run; for neuraloperator's lifting MLP, its first map's (lw, H), (lw, W)
  // instead of (lw, H, W) (fused_load.cpp: separable_lift).
  float *lift_rows = nullptr, *lift_cols = nullptr;
  float *lift2_w = nullptr, *lift2_b = nullptr;  // lifting MLP: (C, lw), (C)
  float *fwd_w_re = nullptr, *fwd_w_im = nullptr, *fwd_h = nullptr, *inv_h = nullptr;
  float *inv_w_re = nullptr, *inv_w_im = nullptr;
  // W-direction DFTs folded on the bases' symmetry (cos even, sin odd in w <-> W - w): half the
  // multiplies; the packed bases then hold columns 0..ne-1 (cos) and 1..no (sin) only.
  bool fold_w = false;
  int ne = 0, no = 0;
  // Likewise along H (cos even, sin odd in h <-> Hp - h): fwd_h then holds A1, A2 (K1 x Hp:
  // X_re = A1 [E_re; O_im], X_im = A2 [E_im; O_re]) and inv_h two (Hp x K1) halves.
  bool fold_h = false;
  int ne_h = 0, no_h = 0;
  // A 1-D graph (hp = k1 = 1, no H transform): the DFTs run on groups of kLineRows rows (channels)
  // at once, one GEMM each, straight into and out of spec_x / spec_o.
  bool line = false;
  static constexpr int kLineRows = 16;
  int proj_cols = 0;  // projection columns per task (a row is split when rows are few)
  std::vector<Layer> layers;
  float *p1_w = nullptr, *p1_b = nullptr, *p2_w = nullptr, *p2_b = nullptr;
  // activations and workspaces
  float* xn = nullptr;
  float* buf[2] = {nullptr, nullptr};
  float *spec_x = nullptr, *spec_o = nullptr;
  // The layer's sum: the Winograd kernel's fused epilogue (bias + spectral addend + GELU) when
  // $WNO_ENGINE_FUSED_EPILOGUE=1, else its plain conv (+ bias) into conv_out and one pass of
  // ours, s = gelu(conv_out + s): measured faster (2-core Zen 4, C = 32, 66 x 66, one thread:
  // kernel 0.38 ms plain, 0.56 ms with the addend, 0.65 ms with addend and GELU).
  bool fused_epilogue = false;
  // The plain conv and our pass run on groups of conv_group images whose fields fit in cache
  // (kConvGroupBytes): over a whole batch, conv_out and s would go to memory between the two
  // (batch 16, 64x64, width 32, one thread: 1.57 ms a sample in this stage, 1.14 at batch 1).
  static constexpr long long kConvGroupBytes = 512 * 1024;
  // A batch runs every stage on `pass` images at a time, as many as fit in kPassBytes a field
  // ($WNO_ENGINE_PASS_IMAGES overrides): the activations then stay in cache from stage to
  // stage, the mixing weights are read once a pass. Over a whole batch each stage streamed the
  // fields through memory (batch 64, 64x64, width 32, in one run: 0.74-0.81x the time at 1 and
  // 2 threads, any pass of 1 to 6 images within 5% of another). The arena holds one pass.
  static constexpr long long kPassBytes = 2 * 1024 * 1024;
  int pass = 1;
  int conv_group = 1;
  float* conv_out = nullptr;  // conv_group images
  float* scratch = nullptr;
  long long scratch_floats = 0;  // per worker
  void* conv_ws = nullptr;
  std::size_t conv_ws_bytes = 0;

  ~Engine() { std::free(arena); }

  float* worker_scratch(int worker) const { return scratch + worker * scratch_floats; }
  long long input_elements() const;
  long long output_elements() const;
  wno_status run(const float* x, float* y);  // either path
  // The fused block: `in` is the graph input with a fused lift, else the first layer's input
  // (N, C, Hp, Wp); `out` the graph output with a fused projection, else the last layer's output.
  wno_status run_fused(const float* in, float* out);
  wno_status run_pass(const float* in, float* out, int images);  // every stage on `images`
  void run_block(const float* in, float* out);  // run_fused inside the reference runner
  // the fused stages (fused_run.cpp), on `images` images (a pass)
  void lift_stage(const float* x, int images);
  void dft_forward(const float* v, long long nc, int worker) const;
  void dft_inverse(float* s, long long nco, int worker) const;
  void line_dft_forward(const float* v, long long r0, int rows, int worker) const;
  void line_dft_inverse(float* s, long long r0, int rows, int worker) const;
  // Tasks of another stage that run in the conv's first parallel region (winograd_conv).
  struct JointTasks {
    long long n = 0;
    Pool::Fn fn = nullptr;
    void* ctx = nullptr;
  };
  // y = act(conv(images [b0, b0 + count) of v) + bias + addend) (addend may be null or y), the
  // `joint` tasks in the kernel's first region.
  wno_status winograd_conv(const Layer& L, const float* v, int b0, int count, const float* addend,
                           bool gelu, float* y, JointTasks joint);
  // joint: the conv ran in the mixing's region and its sum in the inverse DFT tasks (run_pass).
  wno_status real_space(const Layer& L, const float* v, float* s, int images, bool joint);
  void project_row(const float* v, float* y, long long task, int worker) const;  // proj_cols wide
};

// Loads `src` into `e` (load.cpp).
Error load(const Source& src, const wno_engine_options& opt, Engine* e);
// Fills the fused pipeline from matched nodes (fused_load.cpp); the graph's tensors are read
// from `src`, whose pages are dropped behind them.
Error load_fused(const Source& src, const Graph& g, const WnoMatch& wm, int threads,
                 long long max_bytes, Engine* e);

}  // namespace wno::engine
