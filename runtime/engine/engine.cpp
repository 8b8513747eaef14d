// The native engine: load an exported WNO (.onnx) into one arena, run it end to end.
//
// Per run (channel-first NCHW throughout, no transposes):
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
//   crop, projection per image row: gelu(P1 v + b1) -> P2 . + b2 -> * std + mean
// The DFT GEMMs are folded on the bases' symmetry (cos even, sin odd under w -> W - w and
// h -> H - h; checked at load): sums and differences of mirrored rows/columns first, then
// half-size GEMMs, half the multiplies. A file whose bases lack the symmetry runs them as above.
#include "wno/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compute.h"
#include "config.h"
#include "neuralop_block.h"
#include "onnx_reader.h"
#include "pool.h"
#include "wno/contract.h"

namespace wno::engine {
namespace {

constexpr int kStages = 6;
const char* const kStageNames[kStages] = {"normalize+lift", "dft forward",   "spectral mixing",
                                          "dft inverse",    "conv+epilogue", "projection"};
constexpr long long kMaxArenaBytes = 1LL << 34;
constexpr long long kMaxFileBytes = 1LL << 31;

struct Error {
  wno_status status;
  std::string message;
};

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

}  // namespace

struct Engine {
  // shapes
  int n = 0, cin = 0, cout = 0, h = 0, w = 0, pad = 0, hp = 0, wp = 0, c = 0, proj = 0;
  int m1 = 0, m2 = 0, k1 = 0;
  int top = 0, left = 0;  // domain padding above / left of the image (symmetric padding)
  int lw = 0, cmw = 0;    // neuraloperator's lifting MLP and channel MLP widths (0: none)
  long long modes = 0;
  long long modes_p = 0;  // modes rounded up to kModeBlock: the stride of re and im in X and O
  WnoConfig cfg;
  std::string config_json;
  const Kernels* k = nullptr;
  std::unique_ptr<Pool> pool;
  std::mutex run_mu;
  // one arena
  void* arena = nullptr;
  std::size_t arena_bytes = 0;
  // weights
  float *in_mean = nullptr, *in_std = nullptr, *out_mean = nullptr, *out_std = nullptr;
  float *lift_w = nullptr, *lift_c = nullptr;
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
  float* conv_out = nullptr;
  float* scratch = nullptr;
  long long scratch_floats = 0;  // per worker
  void* conv_ws = nullptr;
  std::size_t conv_ws_bytes = 0;
  // profile
  bool profile = false;
  double stage_s[kStages] = {};
  long long runs = 0;

  ~Engine() { std::free(arena); }

  float* worker_scratch(int worker) const { return scratch + worker * scratch_floats; }
  wno_status run(const float* x, float* y);
};

namespace {

using Clock = std::chrono::steady_clock;

template <class F>
void parallel(Pool& pool, long long n, F& f) {
  pool.run(n, [](void* ctx, long long t, int worker) { (*static_cast<F*>(ctx))(t, worker); }, &f);
}

// ---- loading ----------------------------------------------------------------------------

Error invalid(std::string m) { return {WNO_ERROR_INVALID_ARGUMENT, std::move(m)}; }
Error unsupported(std::string m) { return {WNO_ERROR_UNSUPPORTED, std::move(m)}; }

bool parse_hw(std::string_view s, int* h, int* w) {
  long long v[2] = {0, 0};
  int part = 0, digits = 0;
  for (const char ch : s) {
    if (ch == 'x' && part == 0 && digits > 0) {
      part = 1;
      digits = 0;
    } else if (ch >= '0' && ch <= '9' && digits < 6) {
      v[part] = v[part] * 10 + (ch - '0');
      ++digits;
    } else {
      return false;
    }
  }
  if (part != 1 || digits == 0 || v[0] < 1 || v[1] < 1 || v[0] > contract::kMaxResolution ||
      v[1] > contract::kMaxResolution)
    return false;
  *h = static_cast<int>(v[0]);
  *w = static_cast<int>(v[1]);
  return true;
}

bool parse_int(std::string_view s, int* out) {
  if (s.empty() || s.size() > 9) return false;
  long long v = 0;
  for (const char ch : s) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + (ch - '0');
  }
  *out = static_cast<int>(v);
  return true;
}

// The float32 initializer `name` with exactly `dims` (its bytes in the file, maybe unaligned).
// Null data (no error) when absent and !required.
bool tensor_view(const ModelFile& m, const std::string& name, std::vector<long long> dims,
                 bool required, Bytes* out, Error* err) {
  const Tensor* t = m.initializer(name);
  *out = Bytes{};
  if (!t) {
    if (required) *err = invalid("initializer " + name + " is missing");
    return !required;
  }
  if (t->external) {
    *err = unsupported("initializer " + name + " uses external data");
    return false;
  }
  if (t->data_type != kFloat) {
    *err = t->data_type == kFloat16 ? unsupported("initializer " + name + " is float16")
                                    : invalid("initializer " + name + " is not float32");
    return false;
  }
  bool same = t->dims.size() == dims.size();
  for (std::size_t i = 0; same && i < dims.size(); ++i) same = t->dims[i] == dims[i];
  if (!same) {
    std::string want, got;
    for (const long long d : dims) want += (want.empty() ? "" : ",") + std::to_string(d);
    for (const long long d : t->dims) got += (got.empty() ? "" : ",") + std::to_string(d);
    *err = invalid("initializer " + name + " has shape (" + got + "), the config needs (" + want +
                   ")");
    return false;
  }
  const long long count = t->elements();
  if (count < 0 || t->data.size != static_cast<std::size_t>(count) * sizeof(float)) {
    *err = invalid("initializer " + name + " holds " + std::to_string(t->data.size) +
                   " bytes, its shape needs " + std::to_string(count * 4));
    return false;
  }
  *out = t->data;
  if (!out->data) *out = Bytes{reinterpret_cast<const std::uint8_t*>(""), 0};  // present, empty
  return true;
}

// The same, copied out into aligned floats (small tensors).
bool tensor_floats(const ModelFile& m, const std::string& name, std::vector<long long> dims,
                   bool required, std::vector<float>* out, Error* err) {
  Bytes b;
  out->clear();
  if (!tensor_view(m, name, std::move(dims), required, &b, err)) return false;
  out->resize(b.size / sizeof(float));
  if (b.size) std::memcpy(out->data(), b.data, b.size);
  return true;
}

inline float float_at(Bytes b, long long i) {
  float v;
  std::memcpy(&v, b.data + i * sizeof(float), sizeof v);
  return v;
}

// Bump allocation of the arena: first pass sizes, second pass hands out 64-byte aligned blocks.
class Layout {
 public:
  template <class T>
  void add(T** ptr, long long count) {
    if (count < 0 || count > kMaxArenaBytes) overflow_ = true;
    const long long bytes = (static_cast<long long>(sizeof(T)) * std::max(count, 0LL) + 63) & ~63LL;
    items_.push_back({reinterpret_cast<void**>(ptr), offset_});
    offset_ += bytes;
    if (offset_ > kMaxArenaBytes) overflow_ = true;
  }
  long long bytes() const { return offset_; }
  bool overflow() const { return overflow_; }
  void assign(char* base) {
    for (const auto& it : items_) *it.first = base + it.second;
  }

 private:
  std::vector<std::pair<void**, long long>> items_;
  long long offset_ = 0;
  bool overflow_ = false;
};

namespace init = contract::initializer;

std::string metadata_missing(const char* key) {
  return "metadata " + std::string(key) + " is missing";
}

Error load(const Source& src, const wno_engine_options& opt, Engine* e) {
  ModelFile m;
  std::string perr;
  if (!parse_model(src.data, src.size, &m, &perr))
    return invalid("not a readable ONNX file (" + perr + ")");
  const std::string_view* cfg_json = m.meta(contract::kMetadataConfig);
  if (!cfg_json || m.graphs != 1)
    return invalid("not a wno-edge export (no " + std::string(contract::kMetadataConfig) +
                   " metadata)");
  for (const OpsetId& o : m.opsets) {
    if (o.domain == contract::kOpDomain && o.version > contract::kOpVersion)
      return unsupported("the file uses " + std::string(contract::kOpDomain) + " opset " +
                         std::to_string(o.version) + ", newer than this engine's " +
                         std::to_string(contract::kOpVersion));
    if ((o.domain.empty() || o.domain == "ai.onnx") && o.version > contract::kMaxOpset)
      return unsupported("ONNX opset " + std::to_string(o.version) + " is newer than " +
                         std::to_string(contract::kMaxOpset));
  }
  const std::string_view* precision = m.meta(contract::kMetadataPrecision);
  if (!precision) return invalid(metadata_missing(contract::kMetadataPrecision));
  if (*precision == contract::kFp16)
    return unsupported("float16 exports are not supported by the native engine (export " +
                       std::string(contract::kFp32) + ")");
  if (*precision != contract::kFp32) return invalid("unknown precision " + std::string(*precision));

  // The weights are what they were at export.
  const std::string_view* sum = m.meta(contract::kMetadataWeightsChecksum);
  if (opt.verify_checksum) {
    if (!sum)
      return invalid("no weight checksum (" + std::string(contract::kMetadataWeightsChecksum) +
                     "): re-export the model with this wno-edge version");
    const std::string_view prefix = contract::kChecksumPrefix;
    if (sum->substr(0, prefix.size()) != prefix)
      return unsupported("unknown weight checksum algorithm in \"" + std::string(*sum) + "\"");
    char want[16];
    auto drop = [](Bytes b, void* ctx) { static_cast<const Source*>(ctx)->drop(b); };
    std::snprintf(want, sizeof want, "%08x", weights_checksum(m, drop, const_cast<Source*>(&src)));
    const std::string_view hex = sum->substr(prefix.size());
    if (hex != want)
      return invalid("weight checksum mismatch (file says " + std::string(hex) + ", weights give " +
                     want + "): the file is corrupt");
  }

  bool newer = false;
  std::string cerr;
  WnoConfig& cfg = e->cfg;
  if (!parse_config(*cfg_json, &cfg, &cerr, &newer))
    return {newer ? WNO_ERROR_UNSUPPORTED : WNO_ERROR_INVALID_ARGUMENT, cerr};
  e->config_json.assign(cfg_json->data(), cfg_json->size());
  const std::string_view* res = m.meta(contract::kMetadataResolution);
  if (!res || !parse_hw(*res, &e->h, &e->w))
    return invalid("metadata " + std::string(contract::kMetadataResolution) +
                   " is missing or malformed");
  const std::string_view* conv = m.meta(contract::kMetadataConv);
  if (!conv) return invalid(metadata_missing(contract::kMetadataConv));
  const bool fno = *conv == contract::kConvPointwise;
  const bool direct = *conv == contract::kConvDirect;
  if (!fno && !direct && *conv != contract::kConvWinograd)
    return invalid("unknown conv mode \"" + std::string(*conv) + "\"");
  if (fno == cfg.real_space_kernel)
    return invalid(std::string(contract::kMetadataConv) +
                   " contradicts the config's real_space_kernel");
  const std::string_view* batch = m.meta(contract::kMetadataBatch);
  if (!batch) return invalid(metadata_missing(contract::kMetadataBatch));
  int file_batch = 0;
  if (*batch != contract::kBatchDynamic && (!parse_int(*batch, &file_batch) || file_batch < 1))
    return invalid("metadata " + std::string(contract::kMetadataBatch) + " is malformed");
  e->n = opt.batch > 0 ? opt.batch : (file_batch > 0 ? file_batch : 1);
  if (file_batch > 0 && e->n != file_batch)
    return invalid("the file has a fixed batch of " + std::to_string(file_batch) + ", asked for " +
                   std::to_string(e->n));
  if (e->n > 65536) return invalid("batch too large");

  e->cin = cfg.in_channels;
  e->cout = cfg.out_channels;
  e->c = cfg.width;
  e->proj = cfg.projection_width;
  e->pad = cfg.domain_padding;
  e->hp = e->h + e->pad;
  e->wp = e->w + e->pad;
  if (cfg.padding_fraction_h > 0 || cfg.padding_fraction_w > 0) {
    // neuraloperator's DomainPadding: round(f * n) (half to even, as Python) on both sides
    if (cfg.domain_padding != 0)
      return invalid("domain_padding and domain_padding_fraction both set");
    e->top = static_cast<int>(std::nearbyint(cfg.padding_fraction_h * e->h));
    e->left = static_cast<int>(std::nearbyint(cfg.padding_fraction_w * e->w));
    e->hp = e->h + 2 * e->top;
    e->wp = e->w + 2 * e->left;
  }
  e->lw = cfg.lifting_width;
  e->cmw = cfg.channel_mlp_width;
  if (e->cmw > 0 && !cfg.block_neuralop) return invalid("a channel MLP needs block \"neuralop\"");
  if (cfg.channel_mlp_skip && e->cmw == 0) return invalid("channel_mlp_skip without a channel MLP");
  e->m1 = cfg.modes1;
  e->m2 = cfg.modes2;
  e->k1 = 2 * e->m1;
  e->modes = 1LL * e->k1 * e->m2;
  e->modes_p = (e->modes + kModeBlock - 1) / kModeBlock * kModeBlock;
  if (e->hp < 2 * e->m1 || e->wp < 2 * e->m2 - 1 || e->hp > contract::kMaxResolution ||
      e->wp > contract::kMaxResolution)
    return invalid("the padded grid does not hold the Fourier modes");

  // Nodes: only what the exporter writes; the WinogradConv nodes give each layer's tile.
  std::vector<int> tiles;
  int pointwise_convs = 0, conv3x3 = 0;
  for (const Node& nd : m.nodes) {
    if (nd.domain == contract::kOpDomain && nd.op_type == contract::kOpName) {
      const Attribute* tile = nd.find("tile");
      const Attribute* padding = nd.find("padding");
      const Attribute* version = nd.find("plugin_version");
      if (!tile || !padding || !contract::valid_tile(tile->i) || padding->i != 1)
        return invalid("a WinogradConv node has a missing or unsupported tile/padding");
      if (version && version->s != contract::kPluginVersion)
        return unsupported("WinogradConv plugin_version " + std::string(version->s) +
                           " is newer than this engine's " + contract::kPluginVersion);
      tiles.push_back(static_cast<int>(tile->i));
      continue;
    }
    if (!nd.domain.empty() && nd.domain != "ai.onnx")
      return unsupported("op " + std::string(nd.domain) + "::" + std::string(nd.op_type) +
                         " is not one a wno-edge export writes");
    bool known = false;
    for (const char* op : contract::kExportOps) known |= nd.op_type == op;
    if (!known)
      return invalid("op " + std::string(nd.op_type) + " is not one a wno-edge export writes");
    if (nd.op_type == "Conv") {
      const Attribute* ks = nd.find("kernel_shape");
      if (ks && ks->ints.size() == 2 && ks->ints[0] == 3 && ks->ints[1] == 3) {
        const Attribute* pads = nd.find("pads");
        if (!pads || pads->ints.size() != 4) return invalid("a 3x3 Conv node has no pads");
        for (const std::int64_t p : pads->ints)
          if (p != 1) return invalid("a 3x3 Conv node has pads other than 1");
        ++conv3x3;
      } else {
        ++pointwise_convs;
      }
    }
  }
  const int nl = cfg.n_layers;
  if (!fno && !direct && static_cast<int>(tiles.size()) != nl)
    return invalid("expected " + std::to_string(nl) + " WinogradConv nodes, found " +
                   std::to_string(tiles.size()));
  if (direct && (conv3x3 != nl || !tiles.empty()))
    return invalid("expected " + std::to_string(nl) + " 3x3 Conv nodes");
  const int extra_convs = (cfg.lifting_width ? 1 : 0) +
                          nl * (cfg.channel_mlp_width ? 2 + (cfg.channel_mlp_skip ? 1 : 0) : 0);
  if (fno && (!tiles.empty() || conv3x3 || pointwise_convs != nl + 3 + extra_convs))
    return invalid("the FNO graph does not have one 1x1 Conv per layer");
  if (direct) tiles.assign(nl, 4);  // F(4,3): the same function, within the op's tolerance

  // Weights, checked against the config's shapes.
  Error err{WNO_SUCCESS, ""};
  std::vector<float> in_mean, in_std, out_mean, out_std, lift_w, fwd_w, fwd_h, inv_h, inv_w,
      combine, p1w, p1b, p2w, p2b;
  Bytes lift_c;
  const long long C = e->c, Hp = e->hp, Wp = e->wp, M2 = e->m2, K1 = e->k1;
  constexpr long long kCombineRows = std::size(contract::kCombineComplex),
                      kCombineCols = std::size(contract::kCombineComplex[0]);
  if (!tensor_floats(m, init::kInputMean, {1, e->cin, 1, 1}, false, &in_mean, &err) ||
      !tensor_floats(m, init::kInputStd, {1, e->cin, 1, 1}, false, &in_std, &err) ||
      !tensor_floats(m, init::kOutputMean, {1, e->cout, 1, 1}, false, &out_mean, &err) ||
      !tensor_floats(m, init::kOutputStd, {1, e->cout, 1, 1}, false, &out_std, &err) ||
      !tensor_floats(m, init::kLiftWeight, {e->lw ? e->lw : C, e->cin, 1, 1}, true, &lift_w,
                     &err) ||
      !tensor_view(m, init::kLiftConstant,
                   e->lw ? std::vector<long long>{1, e->lw, e->h, e->w}
                         : std::vector<long long>{1, C, Hp, Wp},
                   true, &lift_c, &err) ||
      !tensor_floats(m, init::kDftFwdW, {Wp, 2 * M2}, true, &fwd_w, &err) ||
      !tensor_floats(m, init::kDftFwdH, {2 * K1, 2 * Hp}, true, &fwd_h, &err) ||
      !tensor_floats(m, init::kDftInvH, {2 * Hp, 2 * K1}, true, &inv_h, &err) ||
      !tensor_floats(m, init::kDftInvW, {2 * M2, Wp}, true, &inv_w, &err) ||
      !tensor_floats(m, init::kCombineComplex, {kCombineRows, kCombineCols}, true, &combine,
                     &err) ||
      !tensor_floats(m, init::kProject1Weight, {e->proj, C, 1, 1}, true, &p1w, &err) ||
      !tensor_floats(m, init::kProject1Bias, {e->proj}, true, &p1b, &err) ||
      !tensor_floats(m, init::kProject2Weight, {e->cout, e->proj, 1, 1}, true, &p2w, &err) ||
      !tensor_floats(m, init::kProject2Bias, {e->cout}, true, &p2b, &err))
    return err;
  if (std::memcmp(combine.data(), contract::kCombineComplex, sizeof contract::kCombineComplex) != 0)
    return invalid(std::string(init::kCombineComplex) +
                   " is not the complex product this engine computes");
  for (const float s : in_std)
    if (!(s != 0.f)) return invalid(std::string(init::kInputStd) + " has a zero");

  // Arena layout.
  e->k = &pick_kernels();
  const int threads = opt.num_threads > 0 ? opt.num_threads : wno_cpu_default_threads();
  if (threads > 1024) return invalid("num_threads too large");
  e->layers.resize(nl);
  const long long N = e->n;
  Layout lay;
  if (!in_mean.empty()) lay.add(&e->in_mean, e->cin);
  if (!in_std.empty()) lay.add(&e->in_std, e->cin);
  if (!out_mean.empty()) lay.add(&e->out_mean, e->cout);
  if (!out_std.empty()) lay.add(&e->out_std, e->cout);
  lay.add(&e->lift_w, (e->lw ? e->lw : C) * e->cin);
  lay.add(&e->lift_c, e->lw ? 1LL * e->lw * e->h * e->w : C * Hp * Wp);
  if (e->lw) {
    lay.add(&e->lift2_w, C * e->lw);
    lay.add(&e->lift2_b, C);
  }
  lay.add(&e->fwd_w_re, packed_floats(Wp, M2));
  lay.add(&e->fwd_w_im, packed_floats(Wp, M2));
  lay.add(&e->fwd_h, 4 * K1 * Hp);
  lay.add(&e->inv_h, 4 * Hp * K1);
  lay.add(&e->inv_w_re, packed_floats(M2, Wp));
  lay.add(&e->inv_w_im, packed_floats(M2, Wp));
  for (int i = 0; i < nl; ++i) {
    Layer& L = e->layers[i];
    L.winograd = !fno;
    L.desc = wno_conv_desc{e->n, e->c, e->c, e->hp, e->wp, 1, fno ? 4 : tiles[i]};
    if (!fno) {
      const std::size_t ub = wno_cpu_weight_size(&L.desc);
      if (ub == 0) return invalid("the Winograd kernel rejects this layer's shape");
      lay.add(&L.u, static_cast<long long>(ub / sizeof(float)));
    } else {
      lay.add(&L.pointwise, C * C);
    }
    lay.add(&L.bias, C);
    if (e->cmw) {
      lay.add(&L.mlp1_w, C * e->cmw);
      lay.add(&L.mlp1_b, e->cmw);
      lay.add(&L.mlp2_w, C * e->cmw);
      lay.add(&L.mlp2_b, C);
      if (cfg.channel_mlp_skip) {
        lay.add(&L.mlp_skip, C * C);
        lay.add(&L.mlp_skip_diag, C);
      }
    }
    lay.add(&L.mix, C * C * 2 * e->modes_p);
  }
  lay.add(&e->p1_w, e->proj * C);
  lay.add(&e->p1_b, e->proj);
  lay.add(&e->p2_w, 1LL * e->cout * e->proj);
  lay.add(&e->p2_b, e->cout);
  lay.add(&e->xn, N * e->cin * e->h * e->w);
  lay.add(&e->buf[0], N * C * Hp * Wp);
  lay.add(&e->buf[1], N * C * Hp * Wp);
  lay.add(&e->spec_x, N * C * 2 * e->modes_p);  // zero past `modes`, never written there
  lay.add(&e->spec_o, N * C * 2 * e->modes_p);
  // Per-worker scratch: the largest of the stages' needs.
  e->ne = e->wp / 2 + 1;
  e->no = (e->wp - 1) / 2;
  const long long fold = Hp * (e->ne + e->no);
  e->ne_h = e->hp / 2 + 1;
  e->no_h = (e->hp - 1) / 2;
  const long long fwd = fold + 4 * Hp * M2 + packed_floats(2 * Hp, M2);
  const long long inv = 4 * Hp * M2 + packed_floats(2 * K1, M2) + fold;
  const long long prj =
      packed_floats(C, e->w) + 1LL * e->proj * e->w + packed_floats(e->proj, e->w);
  const long long pw = packed_floats(C, 256);
  const long long nop = std::max(e->lw ? lift_mlp_scratch(e->cin, e->h, e->w, e->lw, e->c) : 0,
                                 cfg.block_neuralop ? channel_mlp_scratch(e->c, e->cmw) : 0);
  e->scratch_floats = std::max<long long>(
      (std::max(std::max(fwd, inv), std::max(prj, pw)) + 15) & ~15LL, (nop + 15) & ~15LL);
  lay.add(&e->scratch, e->scratch_floats * threads);
  if (!fno) {
    const char* fused = std::getenv("WNO_ENGINE_FUSED_EPILOGUE");
    e->fused_epilogue = fused && std::strcmp(fused, "1") == 0;
    if (!e->fused_epilogue) lay.add(&e->conv_out, N * C * Hp * Wp);
    for (const Layer& L : e->layers)  // the tiles may differ between layers
      e->conv_ws_bytes = std::max(e->conv_ws_bytes, wno_cpu_workspace_size(&L.desc, threads));
    lay.add(reinterpret_cast<char**>(&e->conv_ws), static_cast<long long>(e->conv_ws_bytes));
  }
  if (lay.overflow()) return invalid("the model is too large for this engine");
  e->arena_bytes = static_cast<std::size_t>(lay.bytes());
  e->arena = std::aligned_alloc(64, e->arena_bytes);
  if (!e->arena) return {WNO_ERROR_OUT_OF_MEMORY, "cannot allocate the engine's arena"};
  std::memset(e->arena, 0, e->arena_bytes);
  lay.assign(static_cast<char*>(e->arena));

  // Fill the weights, in the layouts the loops want.
  auto put = [](float* dst, const std::vector<float>& src) {
    if (!src.empty()) std::memcpy(dst, src.data(), src.size() * sizeof(float));
  };
  put(e->in_mean, in_mean);
  put(e->in_std, in_std);
  put(e->out_mean, out_mean);
  put(e->out_std, out_std);
  put(e->lift_w, lift_w);
  if (lift_c.size) std::memcpy(e->lift_c, lift_c.data, lift_c.size);
  src.drop(lift_c);
  // Fold only if the stored bases have the symmetry (to float32 rounding), as the exporter's do.
  e->fold_w = e->wp >= 3;
  const float tol = 1e-6f;
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
  } else {
    e->k->pack_b(e->wp, e->m2, fwd_w.data(), 2 * M2, e->fwd_w_re);
    e->k->pack_b(e->wp, e->m2, fwd_w.data() + M2, 2 * M2, e->fwd_w_im);
  }
  // H fold: each block of the bases even or odd in h <-> Hp - h, odd blocks zero at h = 0 (and
  // Hp / 2 when Hp is even).
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
  e->fold_h = Hp >= 3 && parity(fwd_h, 2 * Hp, 0, 0, false, 1) &&
              parity(fwd_h, 2 * Hp, 0, Hp, false, -1) && parity(fwd_h, 2 * Hp, K1, 0, false, -1) &&
              parity(fwd_h, 2 * Hp, K1, Hp, false, 1) && parity(inv_h, 2 * K1, 0, 0, true, 1) &&
              parity(inv_h, 2 * K1, 0, K1, true, -1) && parity(inv_h, 2 * K1, Hp, 0, true, -1) &&
              parity(inv_h, 2 * K1, Hp, K1, true, 1);
  if (e->fold_h && Hp % 2 == 0)  // the odd blocks vanish at Hp / 2 too
    for (long long kk = 0; kk < K1; ++kk)
      e->fold_h = e->fold_h && std::fabs(fwd_h[kk * 2 * Hp + Hp + Hp / 2]) <= tol &&
                  std::fabs(fwd_h[(K1 + kk) * 2 * Hp + Hp / 2]) <= tol &&
                  std::fabs(inv_h[(Hp / 2) * 2 * K1 + K1 + kk]) <= tol &&
                  std::fabs(inv_h[(Hp + Hp / 2) * 2 * K1 + kk]) <= tol;
  if (e->fold_h) {
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
  } else {
    put(e->fwd_h, fwd_h);
    put(e->inv_h, inv_h);
  }
  if (e->fold_w) {
    e->k->pack_b(e->m2, e->ne, inv_w.data(), Wp, e->inv_w_re);
    e->k->pack_b(e->m2, e->no, inv_w.data() + M2 * Wp + 1, Wp, e->inv_w_im);
  } else {
    e->k->pack_b(e->m2, e->wp, inv_w.data(), Wp, e->inv_w_re);
    e->k->pack_b(e->m2, e->wp, inv_w.data() + M2 * Wp, Wp, e->inv_w_im);
  }
  put(e->p1_w, p1w);
  if (e->lw) {
    std::vector<float> l2w, l2b;
    if (!tensor_floats(m, init::kLift2Weight, {C, e->lw, 1, 1}, true, &l2w, &err) ||
        !tensor_floats(m, init::kLift2Bias, {C}, true, &l2b, &err))
      return err;
    put(e->lift2_w, l2w);
    put(e->lift2_b, l2b);
  }
  put(e->p1_b, p1b);
  put(e->p2_w, p2w);
  put(e->p2_b, p2b);
  std::vector<float> wt, bias;
  Bytes mixing;
  for (int i = 0; i < nl; ++i) {
    Layer& L = e->layers[i];
    if (!tensor_floats(m, init::layer_bias(i), {C}, true, &bias, &err)) return err;
    put(L.bias, bias);
    if (e->cmw) {
      const long long H = e->cmw;
      std::vector<float> t;
      if (!tensor_floats(m, init::layer_mlp1_weight(i), {H, C, 1, 1}, true, &t, &err)) return err;
      put(L.mlp1_w, t);
      if (!tensor_floats(m, init::layer_mlp1_bias(i), {H}, true, &t, &err)) return err;
      put(L.mlp1_b, t);
      if (!tensor_floats(m, init::layer_mlp2_weight(i), {C, H, 1, 1}, true, &t, &err)) return err;
      put(L.mlp2_w, t);
      if (!tensor_floats(m, init::layer_mlp2_bias(i), {C}, true, &t, &err)) return err;
      put(L.mlp2_b, t);
      if (L.mlp_skip) {
        if (!tensor_floats(m, init::layer_mlp_skip_weight(i), {C, C, 1, 1}, true, &t, &err))
          return err;
        put(L.mlp_skip, t);
        if (diagonal(L.mlp_skip, e->c, L.mlp_skip_diag))
          L.mlp_skip = nullptr;
        else
          L.mlp_skip_diag = nullptr;
      }
    }
    if (L.winograd) {
      if (!tensor_floats(m, init::layer_kernel(i), {C, C, 3, 3}, true, &wt, &err)) return err;
      const wno_status s =
          wno_cpu_transform_weights(&L.desc, wt.data(), L.u, wno_cpu_weight_size(&L.desc));
      if (s != WNO_SUCCESS) return {s, "transforming layer weights failed"};
    } else {
      if (!tensor_floats(m, init::layer_pointwise(i), {C, C, 1, 1}, true, &wt, &err)) return err;
      put(L.pointwise, wt);
    }
    if (!tensor_view(m, init::layer_mixing(i), {e->modes, 1, C, 2 * C}, true, &mixing, &err))
      return err;
    // (mode, 1, c, [o | O + o]) -> (o, mode block, c, [re, im], mode in block); zero padded
    const long long blocks = e->modes_p / kModeBlock;
    for (long long q = 0; q < e->modes; ++q)
      for (long long ci = 0; ci < C; ++ci) {
        const long long row = (q * C + ci) * 2 * C;
        for (long long o = 0; o < C; ++o) {
          float* dst =
              L.mix + ((o * blocks + q / kModeBlock) * C + ci) * 2 * kModeBlock + q % kModeBlock;
          dst[0] = float_at(mixing, row + o);
          dst[kModeBlock] = float_at(mixing, row + C + o);
        }
      }
    src.drop(mixing);
  }

  e->profile = opt.profile != 0;
  try {
    e->pool = std::make_unique<Pool>(threads, opt.pin_threads != 0, opt.first_cpu);
  } catch (...) {
    return {WNO_ERROR_INTERNAL, "cannot start the engine's threads"};
  }
  if (!e->pool->pin_error().empty()) return invalid(e->pool->pin_error());
  return {WNO_SUCCESS, ""};
}

}  // namespace

// ---- running ------------------------------------------------------------------------------

wno_status Engine::run(const float* x, float* y) {
  const Kernels& K = *k;
  Pool& P = *pool;
  const wno_cpu_parallel kernel_pool{[](void* pool, long long n, wno_task_fn fn, void* ctx) {
                                       static_cast<Pool*>(pool)->run(n, fn, ctx);
                                     },
                                     &P, P.threads()};
  const long long hw = 1LL * h * w, hpwp = 1LL * hp * wp;
  Clock::time_point t0 = profile ? Clock::now() : Clock::time_point{};
  auto lap = [&](int stage) {
    if (!profile) return;
    const Clock::time_point t1 = Clock::now();
    stage_s[stage] += std::chrono::duration<double>(t1 - t0).count();
    t0 = t1;
  };

  // Normalise (as the graph: (x - mean) / std), then lift into buf[0] (zero in the padding).
  for (int b = 0; b < n; ++b)
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
    const float* lc = lift_c + 1LL * ch * hpwp + 1LL * top * wp + left;
    for (long long i = 0; i < 1LL * top * wp; ++i) out[i] = 0.f;
    for (int i = 0; i < h; ++i) {
      float* row = out + 1LL * (top + i) * wp;
      for (int j = 0; j < left; ++j) row[j] = 0.f;
      row += left;
      for (int j = 0; j < w; ++j) row[j] = 0.f;
      for (int ci = 0; ci < cin; ++ci) {
        const float wgt = lift_w[ch * cin + ci];
        const float* src = xn + (1LL * b * cin + ci) * hw + 1LL * i * w;
        for (int j = 0; j < w; ++j) row[j] += wgt * src[j];
      }
      for (int j = 0; j < w; ++j) row[j] += lc[1LL * i * wp + j];
      for (int j = w; j < wp - left; ++j) row[j] = 0.f;
    }
    for (long long i = 1LL * (top + h) * wp; i < hpwp; ++i) out[i] = 0.f;
  };
  if (lw)
    lift_mlp(K, P, n, cin, h, w, lw, c, xn, lift_w, lift_c, lift2_w, lift2_b, buf[0], hp, wp, top,
             left, scratch, scratch_floats);
  else
    parallel(P, 1LL * n * c, lift);
  lap(0);

  float* v = buf[0];
  float* s = buf[1];
  const long long nl = static_cast<long long>(layers.size());
  for (long long li = 0; li < nl; ++li) {
    const Layer& L = layers[li];
    const bool last = li == nl - 1;
    // Forward truncated DFT: per (n, c).
    auto forward = [&](long long nc, int worker) {
      float* ev = worker_scratch(worker);  // folded rows: even (Hp, ne), odd (Hp, no)
      float* od = ev + 1LL * hp * ne;
      float* t = od + 1LL * hp * no;  // [T_re; T_im]: (2 Hp, m2)
      float* tp = t + 2LL * hp * m2;
      const float* vin = v + nc * hpwp;
      if (fold_w) {
        for (int i = 0; i < hp; ++i) {
          const float* row = vin + 1LL * i * wp;
          float* er = ev + 1LL * i * ne;
          float* orow = od + 1LL * i * no - 1;
          er[0] = row[0];
          for (int j = 1; j <= no; ++j) {
            er[j] = row[j] + row[wp - j];
            orow[j] = row[j] - row[wp - j];
          }
          if (wp % 2 == 0) er[wp / 2] = row[wp / 2];
        }
        K.gemm_packed(hp, m2, ne, ev, ne, fwd_w_re, t, m2, false);
        K.gemm_packed(hp, m2, no, od, no, fwd_w_im, t + 1LL * hp * m2, m2, false);
      } else {
        K.gemm_packed(hp, m2, wp, vin, wp, fwd_w_re, t, m2, false);
        K.gemm_packed(hp, m2, wp, vin, wp, fwd_w_im, t + 1LL * hp * m2, m2, false);
      }
      float* x = spec_x + nc * 2 * modes_p;  // X_re (K1, m2), X_im at + modes_p
      if (fold_h) {
        float* b1 = tp + packed_floats(2 * hp, m2);  // [E_re; O_im], then [E_im; O_re]: (Hp, m2)
        float* b2 = b1 + 1LL * hp * m2;
        const float* tr = t;
        const float* ti = t + 1LL * hp * m2;
        for (int q = 0; q < m2; ++q) {
          b1[q] = tr[q];
          b2[q] = ti[q];
        }
        for (int j = 1; j <= no_h; ++j) {
          const float* r1 = tr + 1LL * j * m2;
          const float* r2 = tr + 1LL * (hp - j) * m2;
          const float* i1 = ti + 1LL * j * m2;
          const float* i2 = ti + 1LL * (hp - j) * m2;
          float* e1 = b1 + 1LL * j * m2;
          float* o1 = b1 + 1LL * (ne_h + j - 1) * m2;
          float* e2 = b2 + 1LL * j * m2;
          float* o2 = b2 + 1LL * (ne_h + j - 1) * m2;
          for (int q = 0; q < m2; ++q) {
            e1[q] = r1[q] + r2[q];
            o2[q] = r1[q] - r2[q];
            e2[q] = i1[q] + i2[q];
            o1[q] = i1[q] - i2[q];
          }
        }
        if (hp % 2 == 0)
          for (int q = 0; q < m2; ++q) {
            b1[1LL * (hp / 2) * m2 + q] = tr[1LL * (hp / 2) * m2 + q];
            b2[1LL * (hp / 2) * m2 + q] = ti[1LL * (hp / 2) * m2 + q];
          }
        float* bp2 = tp + packed_floats(hp, m2);
        K.pack_b(hp, m2, b1, m2, tp);
        K.pack_b(hp, m2, b2, m2, bp2);
        K.gemm_packed(k1, m2, hp, fwd_h, hp, tp, x, m2, false);
        K.gemm_packed(k1, m2, hp, fwd_h + 1LL * k1 * hp, hp, bp2, x + modes_p, m2, false);
      } else {
        K.pack_b(2 * hp, m2, t, m2, tp);
        K.gemm_packed(k1, m2, 2 * hp, fwd_h, 2 * hp, tp, x, m2, false);
        K.gemm_packed(k1, m2, 2 * hp, fwd_h + 2LL * k1 * hp, 2 * hp, tp, x + modes_p, m2, false);
      }
    };
    parallel(P, 1LL * n * c, forward);
    lap(1);
    auto mixing = [&](long long o, int) {
      K.mix(n, c, c, static_cast<int>(o), static_cast<int>(o) + 1, modes_p, spec_x, L.mix, spec_o);
    };
    parallel(P, c, mixing);
    lap(2);
    auto inverse = [&](long long nco, int worker) {
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
        float* zr = z;
        float* zi = z + 1LL * hp * m2;
        for (int q = 0; q < m2; ++q) {
          zr[q] = r1[q];
          zi[q] = r2[q];
        }
        for (int j = 1; j <= no_h; ++j) {
          const float* p1 = r1 + 1LL * j * m2;
          const float* q2 = r1 + 1LL * (ne_h + j - 1) * m2;
          const float* p2 = r2 + 1LL * j * m2;
          const float* q1 = r2 + 1LL * (ne_h + j - 1) * m2;
          float* zr1 = zr + 1LL * j * m2;
          float* zr2 = zr + 1LL * (hp - j) * m2;
          float* zi1 = zi + 1LL * j * m2;
          float* zi2 = zi + 1LL * (hp - j) * m2;
          for (int q = 0; q < m2; ++q) {
            zr1[q] = p1[q] + q1[q];
            zr2[q] = p1[q] - q1[q];
            zi1[q] = p2[q] + q2[q];
            zi2[q] = p2[q] - q2[q];
          }
        }
        if (hp % 2 == 0)
          for (int q = 0; q < m2; ++q) {
            zr[1LL * (hp / 2) * m2 + q] = r1[1LL * (hp / 2) * m2 + q];
            zi[1LL * (hp / 2) * m2 + q] = r2[1LL * (hp / 2) * m2 + q];
          }
      } else {
        float* o2 = op + packed_floats(2 * k1, m2);  // [O_re; O_im] contiguous, for one packing
        std::memcpy(o2, o_nc, sizeof(float) * k1 * m2);
        std::memcpy(o2 + 1LL * k1 * m2, o_nc + modes_p, sizeof(float) * k1 * m2);
        K.pack_b(2 * k1, m2, o2, m2, op);
        K.gemm_packed(2 * hp, m2, 2 * k1, inv_h, 2 * k1, op, z, m2, false);
      }
      float* out = s + nco * hpwp;
      if (fold_w) {
        float* pe = op + packed_floats(2 * k1, m2);  // (Hp, ne) even part, (Hp, no) odd part
        float* qo = pe + 1LL * hp * ne;
        K.gemm_packed(hp, ne, m2, z, m2, inv_w_re, pe, ne, false);
        K.gemm_packed(hp, no, m2, z + 1LL * hp * m2, m2, inv_w_im, qo, no, false);
        for (int i = 0; i < hp; ++i) {
          float* row = out + 1LL * i * wp;
          const float* pr = pe + 1LL * i * ne;
          const float* qr = qo + 1LL * i * no - 1;
          row[0] = pr[0];
          for (int j = 1; j <= no; ++j) {
            row[j] = pr[j] + qr[j];
            row[wp - j] = pr[j] - qr[j];
          }
          if (wp % 2 == 0) row[wp / 2] = pr[wp / 2];
        }
      } else {
        K.gemm_packed(hp, wp, m2, z, m2, inv_w_re, out, wp, false);
        K.gemm_packed(hp, wp, m2, z + 1LL * hp * m2, m2, inv_w_im, out, wp, true);
      }
    };
    parallel(P, 1LL * n * c, inverse);
    lap(3);
    if (L.winograd) {  // the kernel runs on this pool (a second one would fight it for cores)
      // s = act(conv(v) + bias + s), written over s.
      if (fused_epilogue) {
        const wno_status st =
            wno_cpu_conv2d_on(&L.desc, v, L.u, L.bias, s, last ? WNO_ACT_NONE : WNO_ACT_GELU, s,
                              conv_ws, conv_ws_bytes, &kernel_pool);
        if (st != WNO_SUCCESS) return st;
      } else {
        const wno_status st = wno_cpu_conv2d_on(&L.desc, v, L.u, L.bias, nullptr, WNO_ACT_NONE,
                                                conv_out, conv_ws, conv_ws_bytes, &kernel_pool);
        if (st != WNO_SUCCESS) return st;
        auto sum = [&](long long nc, int) {
          K.add_act(hpwp, conv_out + nc * hpwp, s + nc * hpwp, !last);
        };
        parallel(P, 1LL * n * c, sum);
      }
    } else if (cfg.block_neuralop) {  // W v, GELU, channel MLP + skip, GELU: one pass
      fno_layer(K, P, n, c, cmw, hpwp, s, v, L.pointwise, L.bias, L.mlp1_w, L.mlp1_b, L.mlp2_w,
                L.mlp2_b, L.mlp_skip, L.mlp_skip_diag, last, scratch, scratch_floats);
    } else {
      constexpr int kChunk = 256;
      const long long chunks = (hpwp + kChunk - 1) / kChunk;
      auto pointwise = [&](long long task, int worker) {
        const long long b = task / chunks, j0 = (task % chunks) * kChunk;
        const int cw = static_cast<int>(std::min<long long>(kChunk, hpwp - j0));
        float* bp = worker_scratch(worker);
        K.pack_b(c, cw, v + b * c * hpwp + j0, hpwp, bp);
        float* out = s + b * c * hpwp + j0;
        K.gemm_packed(c, cw, c, L.pointwise, c, bp, out, hpwp, true);
        K.bias_act(c, cw, out, hpwp, L.bias, !last);
      };
      parallel(P, n * chunks, pointwise);
    }
    if (cfg.block_neuralop && L.winograd) {  // GELU (above), channel MLP + skip, GELU
      if (L.mlp1_w)
        channel_mlp(K, P, n, c, cmw, hpwp, s, v, L.mlp1_w, L.mlp1_b, L.mlp2_w, L.mlp2_b, L.mlp_skip,
                    L.mlp_skip_diag, !last, scratch, scratch_floats);
      else if (!last)
        gelu_inplace(K, P, 1LL * n * c, hpwp, s);
    }
    lap(4);
    std::swap(v, s);
  }

  // Crop and project, one image row per task.
  auto project = [&](long long task, int worker) {
    const long long b = task / h, i = task % h;
    float* bp = worker_scratch(worker);
    float* h1 = bp + packed_floats(c, w);
    float* bp2 = h1 + 1LL * proj * w;
    K.pack_b(c, w, v + b * c * hpwp + (top + i) * wp + left, hpwp, bp);
    K.gemm_packed(proj, w, c, p1_w, c, bp, h1, w, false);
    K.bias_act(proj, w, h1, w, p1_b, true);
    K.pack_b(proj, w, h1, w, bp2);
    float* out = y + b * cout * hw + i * w;
    K.gemm_packed(cout, w, proj, p2_w, proj, bp2, out, hw, false);
    K.bias_act(cout, w, out, hw, p2_b, false);
    if (out_std || out_mean)
      for (int o = 0; o < cout; ++o) {
        float* row = out + o * hw;
        const float sd = out_std ? out_std[o] : 1.f, mean = out_mean ? out_mean[o] : 0.f;
        if (out_std)
          for (int j = 0; j < w; ++j) row[j] *= sd;
        if (out_mean)
          for (int j = 0; j < w; ++j) row[j] += mean;
      }
  };
  parallel(P, 1LL * n * h, project);
  P.park();  // between runs (a control loop's tick) the helpers sleep
  lap(5);
  if (profile) ++runs;
  return WNO_SUCCESS;
}

}  // namespace wno::engine

// ---- C ABI ----------------------------------------------------------------------------------

struct wno_engine {
  wno::engine::Engine e;
};

namespace {

void set_error(char* error, std::size_t size, const std::string& message) {
  if (!error || size == 0) return;
  const std::size_t n = std::min(size - 1, message.size());
  std::memcpy(error, message.data(), n);
  error[n] = '\0';
}

wno_status open_source(const wno::engine::Source& src, const wno_engine_options* options,
                       wno_engine** engine, char* error, std::size_t error_size,
                       const std::string& what) {
  wno_engine_options opt;
  wno_engine_default_options(&opt);
  if (options) opt = *options;
  std::unique_ptr<wno_engine> e;
  try {
    e.reset(new wno_engine());
    const wno::engine::Error err = wno::engine::load(src, opt, &e->e);
    if (err.status != WNO_SUCCESS) {
      set_error(error, error_size, what + ": " + err.message);
      return err.status;
    }
    // One run on zeros: starts the kernel's threads and touches every page, so the first
    // real run allocates nothing and takes no page faults.
    const std::size_t in = 1ULL * e->e.n * e->e.cin * e->e.h * e->e.w;
    const std::size_t out = 1ULL * e->e.n * e->e.cout * e->e.h * e->e.w;
    std::vector<float> x(in), y(out);
    const bool profile = e->e.profile;
    e->e.profile = false;
    const wno_status st = e->e.run(x.data(), y.data());
    e->e.profile = profile;
    if (st != WNO_SUCCESS) {
      set_error(error, error_size, what + ": the first run failed: " + wno_status_string(st));
      return st;
    }
  } catch (const std::bad_alloc&) {
    set_error(error, error_size, what + ": out of memory");
    return WNO_ERROR_OUT_OF_MEMORY;
  } catch (...) {
    set_error(error, error_size, what + ": internal error while loading");
    return WNO_ERROR_INTERNAL;
  }
  set_error(error, error_size, "");
  *engine = e.release();
  return WNO_SUCCESS;
}

}  // namespace

extern "C" {

int wno_engine_abi_version(void) { return WNO_ENGINE_ABI_VERSION; }

void wno_engine_default_options(wno_engine_options* o) {
  if (!o) return;
  *o = wno_engine_options{};
  o->verify_checksum = 1;
}

wno_status wno_engine_open_memory(const void* data, size_t size, const wno_engine_options* options,
                                  wno_engine** engine, char* error, size_t error_size) {
  if (!engine) return WNO_ERROR_INVALID_ARGUMENT;
  *engine = nullptr;
  if (!data && size) {
    set_error(error, error_size, "no data");
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  wno::engine::Source src;
  src.data = static_cast<const std::uint8_t*>(data);
  src.size = size;
  return open_source(src, options, engine, error, error_size, "model");
}

wno_status wno_engine_open(const char* path, const wno_engine_options* options, wno_engine** engine,
                           char* error, size_t error_size) {
  if (!engine) return WNO_ERROR_INVALID_ARGUMENT;
  *engine = nullptr;
  if (!path) {
    set_error(error, error_size, "no path");
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  // A private read-only mapping: nothing is copied, and the pages are dropped as they are read.
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    set_error(error, error_size, std::string(path) + ": cannot open");
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > wno::engine::kMaxFileBytes) {
    ::close(fd);
    set_error(error, error_size, std::string(path) + ": not a regular file of at most 2 GiB");
    return WNO_ERROR_INVALID_ARGUMENT;
  }
  wno::engine::Source src;
  src.size = static_cast<std::size_t>(st.st_size);
  void* map = nullptr;
  if (src.size) {
    map = mmap(nullptr, src.size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      set_error(error, error_size, std::string(path) + ": cannot read");
      return WNO_ERROR_INVALID_ARGUMENT;
    }
    src.data = static_cast<const std::uint8_t*>(map);
    src.mapped = true;
  }
  ::close(fd);
  const wno_status status = open_source(src, options, engine, error, error_size, path);
  if (map) munmap(map, src.size);
  return status;
}

void wno_engine_close(wno_engine* engine) { delete engine; }

wno_status wno_engine_run(wno_engine* engine, const float* input, float* output) {
  if (!engine || !input || !output) return WNO_ERROR_INVALID_ARGUMENT;
  std::lock_guard<std::mutex> lock(engine->e.run_mu);
  return engine->e.run(input, output);
}

wno_status wno_engine_shape(const wno_engine* engine, int which, int dims[4]) {
  if (!engine || !dims || (which != 0 && which != 1)) return WNO_ERROR_INVALID_ARGUMENT;
  const auto& e = engine->e;
  dims[0] = e.n;
  dims[1] = which == 0 ? e.cin : e.cout;
  dims[2] = e.h;
  dims[3] = e.w;
  return WNO_SUCCESS;
}

const char* wno_engine_config_json(const wno_engine* engine) {
  return engine ? engine->e.config_json.c_str() : "";
}

size_t wno_engine_arena_bytes(const wno_engine* engine) {
  return engine ? engine->e.arena_bytes : 0;
}

int wno_engine_num_threads(const wno_engine* engine) {
  return engine ? engine->e.pool->threads() : 0;
}

const char* wno_engine_isa(void) { return wno::engine::pick_kernels().isa; }

int wno_engine_stage_count(void) { return wno::engine::kStages; }

const char* wno_engine_stage_name(int stage) {
  return stage >= 0 && stage < wno::engine::kStages ? wno::engine::kStageNames[stage] : "";
}

wno_status wno_engine_stage_times(const wno_engine* engine, double* seconds, int count,
                                  long long* runs) {
  if (!engine || (count > 0 && !seconds)) return WNO_ERROR_INVALID_ARGUMENT;
  wno_engine* e = const_cast<wno_engine*>(engine);
  std::lock_guard<std::mutex> lock(e->e.run_mu);
  for (int i = 0; i < count && i < wno::engine::kStages; ++i) seconds[i] = e->e.stage_s[i];
  if (runs) *runs = e->e.runs;
  return WNO_SUCCESS;
}

void wno_engine_reset_stage_times(wno_engine* engine) {
  if (!engine) return;
  std::lock_guard<std::mutex> lock(engine->e.run_mu);
  for (double& s : engine->e.stage_s) s = 0;
  engine->e.runs = 0;
}

}  // extern "C"
