// Loading: parse, check versions and checksums, read the graph, plan it (fused pipeline where
// the patterns cover it, reference kernels otherwise), and describe the plan.
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include "config.h"
#include "engine_impl.h"
#include "wno/contract.h"

namespace wno::engine {
namespace {

Error check_opsets(const ModelFile& m) {
  for (const OpsetId& o : m.opsets) {
    if (o.domain == contract::kOpDomain && o.version > contract::kOpVersion)
      return unsupported("the file uses " + std::string(contract::kOpDomain) + " opset " +
                         std::to_string(o.version) + ", newer than this engine's " +
                         std::to_string(contract::kOpVersion));
    if ((o.domain.empty() || o.domain == "ai.onnx") && o.version > contract::kMaxOpset)
      return unsupported("ONNX opset " + std::to_string(o.version) + " is newer than " +
                         std::to_string(contract::kMaxOpset));
    if ((o.domain.empty() || o.domain == "ai.onnx") && o.version < contract::kMinOpset)
      return unsupported("ONNX opset " + std::to_string(o.version) + " is older than " +
                         std::to_string(contract::kMinOpset) + " (re-export the model)");
  }
  return {WNO_SUCCESS, ""};
}

// The weights checksum guards against corruption. A file whose structure digest (written by
// exports since it was introduced) differs from its structure was edited by a tool after
// export: its weights checksum is stale and not applied; the engine computes the edited graph.
Error check_checksums(const Source& src, const ModelFile& m, bool verify, std::string* note) {
  const std::string_view* sum = m.meta(contract::kMetadataWeightsChecksum);
  const std::string_view* structure = m.meta(contract::kMetadataStructureChecksum);
  const std::string_view prefix = contract::kChecksumPrefix;
  if (!verify) {
    *note = "not verified (verify_checksum=0)";
    return {WNO_SUCCESS, ""};
  }
  if (!sum)
    return invalid("no weight checksum (" + std::string(contract::kMetadataWeightsChecksum) +
                   "): re-export the model with this wno-edge version, or open it with "
                   "verify_checksum=0 to run a file without one");
  if (sum->substr(0, prefix.size()) != prefix)
    return unsupported("unknown weight checksum algorithm in \"" + std::string(*sum) + "\"");
  if (structure && structure->substr(prefix.size()) != structure_digest(m)) {
    *note = "stale: the file was edited after export (its structure digest differs)";
    return {WNO_SUCCESS, ""};
  }
  char want[16];
  auto drop = [](Bytes b, void* ctx) { static_cast<const Source*>(ctx)->drop(b); };
  std::snprintf(want, sizeof want, "%08x", weights_checksum(m, drop, const_cast<Source*>(&src)));
  const std::string_view hex = sum->substr(prefix.size());
  if (hex != want)
    return invalid(
        "weight checksum mismatch (file says " + std::string(hex) + ", weights give " + want +
        "): the file is corrupt" +
        (structure ? "" : ", or was edited after export (open it with verify_checksum=0)"));
  *note = std::string("verified (") + contract::kChecksumPrefix + want + ")";
  return {WNO_SUCCESS, ""};
}

std::string shape_text(const std::vector<long long>& d) {
  std::string s = "(";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + ")";
}

std::string mib(long long bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f MiB", static_cast<double>(bytes) / 1048576.0);
  return b;
}

std::string node_list(const Graph& g, const std::vector<int>& nodes) {
  std::string s;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (i == 6) return s + ", ... (" + std::to_string(nodes.size()) + " nodes)";
    s += (i ? ", " : "") + g.nodes[static_cast<std::size_t>(nodes[i])].label();
  }
  return s;
}

// The kernel of a fused layer, as the plan names it.
std::string layer_kernel(const Engine& e, const LayerMatch& L, std::size_t layer) {
  const int tile = e.layers[layer].desc.tile;
  const bool line = e.layers[layer].desc.dims == 1;
  const std::string m = std::to_string(tile);
  std::string conv = L.kind == RealSpace::kPointwise ? "1x1 conv GEMM"
                     : line                          ? "Winograd F(" + m + ",3)" +
                                  (L.kind == RealSpace::kDirect3x3 ? " for a 3-tap Conv" : "")
                            : "Winograd F(" + m + "x" + m + ", 3x3)" +
                                  (L.kind == RealSpace::kDirect3x3 ? " for a 3x3 Conv" : "");
  std::string dft = std::string("DFT GEMMs") + (e.fold_w ? " folded in W" : "") +
                    (e.fold_h ? (e.fold_w ? " and H" : " folded in H") : "");
  return dft + ", complex mixing, " + conv + (L.mlp1_w >= 0 ? ", channel MLP" : "") +
         (L.skip >= 0 ? " + skip" : "") + ", " + e.k->isa;
}

std::string threads_text(int n) { return std::to_string(n) + (n == 1 ? " thread" : " threads"); }

// Fused stages, then (around a partial block) the nodes on reference kernels.
std::string fused_plan(const Engine& e, const Graph& g, const WnoMatch& wm,
                       const std::string& checksum) {
  const std::size_t fused_nodes = [&] {
    std::size_t k = 0;
    for (const StageMatch& s : wm.stages) k += s.nodes.size();
    return k;
  }();
  std::string p = "plan: fused WNO pipeline, " + std::to_string(wm.layers.size()) + " layers, " +
                  std::to_string(g.nodes.size()) + " nodes, " +
                  (wm.whole ? std::string("all covered by fusion patterns")
                            : std::to_string(fused_nodes) + " fused, " +
                                  std::to_string(g.nodes.size() - fused_nodes) +
                                  " on reference kernels (" + wm.partial + ")") +
                  "\n";
  const long long arena =
      static_cast<long long>(e.arena_bytes) + (e.reference ? e.reference->arena_bytes() : 0);
  const std::string passes =
      e.n > e.pass ? ", the batch in passes of " + std::to_string(e.pass) + " images" : "";
  p += "  input " + shape_text(e.in_dims) + " -> output " + shape_text(e.out_dims) + passes +
       ", arena " + mib(arena) + ", " + threads_text(e.pool->threads()) + ", checksum " + checksum +
       "\n";
  std::size_t layer = 0;
  for (const StageMatch& s : wm.stages) {
    std::string kernel;
    if (s.name == "normalize+lift")
      kernel = std::string(e.lw ? "lifting MLP (GEMM, GELU)" : "1x1 lift") +
               (e.lift_rows ? " (its constant as row + column terms), " : ", ") + e.k->isa;
    else if (s.name == "projection")
      kernel = std::string(e.hp != e.h || e.wp != e.w ? "crop + " : "") + "projection MLP (GEMM, " +
               (e.proj_act == kSilu ? "SiLU" : "GELU") + "), " + e.k->isa;
    else
      kernel = layer_kernel(e, wm.layers[layer], layer), ++layer;
    p += "  stage " + s.name + ": " + kernel + "\n    nodes " + std::to_string(s.nodes.size()) +
         ": " + node_list(g, s.nodes) + "\n";
  }
  if (wm.whole) return p + "  reference kernels: none\n";
  std::vector<char> fused(g.nodes.size(), 0);
  for (const StageMatch& s : wm.stages)
    for (const int nd : s.nodes) fused[static_cast<std::size_t>(nd)] = 1;
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    if (!fused[i])
      p += "  reference " + g.nodes[i].label() + " -> " +
           shape_text(g.value(g.nodes[i].out[0]).shape) + "\n";
  return p;
}

std::string reference_plan(const Engine& e, const std::string& why, const std::string& checksum) {
  const Graph& g = e.graph;
  std::string p = "plan: reference kernels for all " + std::to_string(g.nodes.size()) +
                  " nodes (no fused pipeline: " + why + ")\n";
  p += "  input " + shape_text(e.in_dims) + " -> output " + shape_text(e.out_dims) + ", arena " +
       mib(e.reference->arena_bytes()) + ", 1 thread, checksum " + checksum + "\n";
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    p += "  reference " + g.nodes[i].label() + " -> " +
         shape_text(g.value(g.nodes[i].out[0]).shape) + "\n";
  return p;
}

// The timed stages: the fused block's (its ends, four steps per layer), then the reference
// kernels' (all of a graph without a block).
void name_stages(const WnoMatch* wm, Engine* e) {
  e->stage_names.clear();
  if (wm) {
    e->stage_names.push_back(wm->lift ? "normalize+lift" : "block input");
    for (std::size_t i = 0; i < wm->layers.size(); ++i)
      for (const char* step : kLayerStepNames)
        e->stage_names.push_back("layer " + std::to_string(i) + " " + step);
    e->stage_names.push_back(wm->project ? "projection" : "block output");
  }
  if (e->reference) {
    std::size_t fused = 0;
    if (wm)
      for (const StageMatch& s : wm->stages) fused += s.nodes.size();
    e->stage_names.push_back("reference kernels (" + std::to_string(e->graph.nodes.size() - fused) +
                             " nodes)");
  }
  e->stage_s.assign(e->stage_names.size(), 0.0);
}

// The config metadata is informative (wno_engine_config_json): the graph is what runs. Present,
// it must still be valid, as every other reader of the file requires (a newer format, or a
// text outside the grammar, is refused alike by all of them).
Error read_config(const ModelFile& m, Engine* e) {
  const std::string_view* json = m.meta(contract::kMetadataConfig);
  if (!json) return {WNO_SUCCESS, ""};
  WnoConfig cfg;
  std::string err;
  bool newer = false;
  if (!parse_config(*json, &cfg, &err, &newer))
    return {newer ? WNO_ERROR_UNSUPPORTED : WNO_ERROR_INVALID_ARGUMENT, err};
  e->config_json.assign(*json);
  return {WNO_SUCCESS, ""};
}

Error start_pool(const wno_engine_options& opt, int threads, Engine* e) {
  try {
    e->pool = std::make_unique<Pool>(threads, opt.pin_threads != 0, opt.first_cpu);
  } catch (...) {
    return {WNO_ERROR_INTERNAL, "cannot start the engine's threads"};
  }
  if (!e->pool->pin_error().empty()) return invalid(e->pool->pin_error());
  return {WNO_SUCCESS, ""};
}

// The graph on reference kernels, around the fused block when the patterns found one: the
// file's bytes are kept (the graph points into them).
Error load_reference(const Source& src, const GraphLimits& limits, long long max_bytes,
                     const wno_engine_options& opt, int threads, bool block, Engine* e,
                     WnoMatch* wm) {
  e->file.assign(src.data, src.data + src.size);
  std::string err;
  if (!parse_model(e->file.data(), e->file.size(), &e->model, &err) ||
      !build_graph(e->model, limits, &e->graph, &err))
    return invalid(err);
  FusedBlock fb;
  if (block) {  // the same bytes, the same match
    if (!match_wno(e->graph, wm, &err)) return {WNO_ERROR_INTERNAL, "the plan changed: " + err};
    const Source kept{e->file.data(), e->file.size(), false};
    Error status = load_fused(kept, e->graph, *wm, threads, max_bytes, e);
    if (status.status != WNO_SUCCESS) return status;
    fb.skip.assign(e->graph.nodes.size(), 0);
    for (const StageMatch& s : wm->stages)
      for (const int nd : s.nodes) fb.skip[static_cast<std::size_t>(nd)] = 1;
    fb.in = wm->block_in;
    fb.out = wm->block_out;
    fb.at = e->graph.value(wm->block_out).producer;
    fb.ctx = e;
    fb.run = [](void* ctx, const float* in, float* out) {
      static_cast<Engine*>(ctx)->run_block(in, out);
    };
  }
  e->reference = std::make_unique<ReferenceRunner>();
  const long long left = max_bytes - static_cast<long long>(e->arena_bytes);
  if (!e->reference->build(e->graph, left, &err, block ? &fb : nullptr)) return invalid(err);
  return start_pool(opt, block ? threads : 1, e);
}

}  // namespace

Error load(const Source& src, const wno_engine_options& opt, Engine* e) {
  ModelFile m;
  std::string err;
  if (!parse_model(src.data, src.size, &m, &err))
    return invalid("not a readable ONNX file (" + err + ")");
  if (m.graphs != 1) return invalid("not an ONNX model (no graph)");
  Error status = check_opsets(m);
  if (status.status != WNO_SUCCESS) return status;
  std::string checksum;
  status = check_checksums(src, m, opt.verify_checksum != 0, &checksum);
  if (status.status != WNO_SUCCESS) return status;
  status = read_config(m, e);
  if (status.status != WNO_SUCCESS) return status;

  const int threads = opt.num_threads > 0 ? opt.num_threads : wno_cpu_default_threads();
  if (threads > 1024) return invalid("num_threads too large");
  if (opt.max_memory_mb < 0) return invalid("max_memory_mb must not be negative");
  const long long max_bytes =
      (opt.max_memory_mb > 0 ? opt.max_memory_mb : kDefaultMaxMemoryMb) * (1LL << 20);
  GraphLimits limits;
  limits.batch = opt.batch;
  limits.max_tensor_bytes = max_bytes;
  // No cap on all the values together: the memory that runs is the fused arena and the reference
  // kernels' liveness plan, each held to max_bytes where it is laid out (the sum of every value
  // refused a batch-64 WNO whose fused arena is a tenth of it).
  limits.max_total_bytes = std::numeric_limits<long long>::max();
  Graph g;
  if (!build_graph(m, limits, &g, &err)) return invalid(err);
  e->in_dims = g.value(g.input).shape;
  e->out_dims = g.value(g.output).shape;
  e->profile = opt.profile != 0;

  WnoMatch wm;
  std::string why;
  const bool block = match_wno(g, &wm, &why);
  if (block && wm.whole) {
    status = load_fused(src, g, wm, threads, max_bytes, e);
    if (status.status != WNO_SUCCESS) return status;
    status = start_pool(opt, threads, e);
    if (status.status != WNO_SUCCESS) return status;
    e->plan = fused_plan(*e, g, wm, checksum);
    name_stages(&wm, e);
    return status;
  }
  status = load_reference(src, limits, max_bytes, opt, threads, block, e, &wm);
  if (status.status != WNO_SUCCESS) return status;
  e->plan = block ? fused_plan(*e, e->graph, wm, checksum) : reference_plan(*e, why, checksum);
  name_stages(block ? &wm : nullptr, e);
  return status;
}

}  // namespace wno::engine
