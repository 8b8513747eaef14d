// Plain reference kernels, one per supported ONNX op, at any rank: the engine runs a node on
// them when no fusion pattern (match.h) covers it, and computes what ONNX Runtime computes
// (float32, IEEE, no reassociation beyond a dot product's order). Slow by design; the patterns
// are where the speed is.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "graph.h"

namespace wno::engine {

// The op types build_graph accepts and these kernels run (domain "" / "ai.onnx", plus
// wno_edge::WinogradConv).
bool reference_supports(std::string_view domain, std::string_view op_type);

// Nodes the runner leaves to someone else (a fused stage): they read value `in` (and
// initializers) and write value `out`; no node outside reads a value they compute but `out`.
// The runner calls the block where node `at` (out's producer) would run.
struct FusedBlock {
  std::vector<char> skip;  // per node: part of the block
  int in = -1, out = -1, at = -1;
  using Fn = void (*)(void* ctx, const float* in, float* out);
  Fn run = nullptr;
  void* ctx = nullptr;
};

// Runs a graph, node by node, on buffers planned at build time (values whose lifetimes do not
// overlap share memory); run() allocates nothing.
class ReferenceRunner {
 public:
  // Plans buffers for `g` (which must outlive the runner) and copies the initializers the nodes
  // read. False with a one-line message if the plan exceeds max_bytes. With a block, its nodes
  // are not run but the block is, and none of their values but block.out gets a buffer.
  bool build(const Graph& g, long long max_bytes, std::string* error,
             const FusedBlock* block = nullptr);
  long long arena_bytes() const { return static_cast<long long>(arena_.size() * sizeof(float)); }
  // x: the graph input's elements, y: the graph output's (float32, row-major).
  void run(const float* x, float* y);

 private:
  const Graph* g_ = nullptr;
  FusedBlock block_;
  std::vector<float> arena_;
  std::vector<long long> offset_;  // per value: float offset into arena_, -1 if none
  // Per DFT length n: cos(2 pi k / n), then sin(2 pi k / n), k < n (counted in the plan's bytes).
  std::map<long long, std::vector<double>> twiddles_;
};

}  // namespace wno::engine
