// The graph in the file as the engine computes it: values with concrete shapes (inferred at the
// engine's batch), nodes in topological order, initializers. Built from the parsed ModelFile;
// everything the planner (match.h) and the reference kernels (reference.h) read comes from here,
// never from the metadata. Every size is checked against GraphLimits before anything is allocated.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "onnx_reader.h"

namespace wno::engine {

struct Value {
  std::string_view name;
  std::vector<long long> shape;  // concrete; rank 0 for a scalar
  int dtype = kFloat;            // ONNX TensorProto.DataType: kFloat or kInt64
  int producer = -1;             // node index; -1 for the graph input and initializers
  std::vector<int> consumers;    // node indices, once per use (a node using it twice: twice)
  const Tensor* init = nullptr;  // initializer (data checked against the shape), else null
  bool is_input = false, is_output = false;
  long long elements() const;
};

// The supported ops (reference_supports); WinogradConv is wno_edge::WinogradConv.
enum class Op {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kErf,
  kGelu,
  kSigmoid,
  kMatMul,
  kReshape,
  kTranspose,
  kPad,
  kSlice,
  kConv,
  kIdentity,
  kDFT,
  kWinogradConv
};

// The Op of a supported (domain, op_type); false for any other.
bool op_of(std::string_view domain, std::string_view op_type, Op* op);

// What build_graph read from a node's attributes and constant inputs, checked against the
// input shapes: the kernels run these, never the raw attributes.
struct NodeParams {
  // Conv / WinogradConv, per spatial dim of X: kernel (from W), strides, dilations, pads at the
  // beginning and end (auto_pad resolved); group.
  std::vector<long long> kernel, strides, dilations, pads_begin, pads_end;
  long long group = 1;
  long long tile = 0;  // WinogradConv's tile
  // Transpose: output dim i is input dim perm[i].
  std::vector<long long> perm;
  // Slice, per input dim: the first index and the step (1 / start 0 for dims it does not slice).
  // Pad, per input dim: begin and end padding (negative: cropped); value: the constant.
  std::vector<long long> starts, steps, begin, end;
  float value = 0.0f;
  bool gelu_tanh = false;  // Gelu approximate="tanh"
  // DFT: the signal axis (non-negative), the transform length n (dft_length, or its default),
  // inverse (scaled by 1/n as ONNX defines it) and onesided (forward: real -> n/2+1 bins;
  // inverse: n/2+1 bins -> real, the IRFFT).
  long long dft_axis = 0, dft_length = 0;
  bool dft_inverse = false, dft_onesided = false;
};

struct GraphNode {
  const Node* node = nullptr;  // op_type, domain, name, attributes
  std::vector<int> in;         // value ids; -1 for an omitted optional input ("")
  std::vector<int> out;
  int index = 0;  // position in the file (and in Graph::nodes)
  Op op = Op::kIdentity;
  NodeParams p;
  std::string label() const;  // "name (OpType)", or "#index (OpType)" for an unnamed node
};

struct GraphLimits {
  int batch = 0;  // 0: the file's fixed batch, or 1 if the input's first dim is symbolic
  long long max_tensor_bytes = 1LL << 31;  // any one value
  long long max_total_bytes = 1LL << 32;   // all non-initializer values together
};

struct Graph {
  std::vector<Value> values;
  std::vector<GraphNode> nodes;  // topological
  int input = -1, output = -1;   // the one float graph input and output
  int batch = 1;                 // the batch the shapes were inferred at
  bool batch_dynamic = false;    // the input's first dim is symbolic in the file
  std::unordered_map<std::string_view, int> by_name;  // value id of each name (find)

  int find(std::string_view name) const;  // value id or -1
  const Value& value(int id) const { return values[static_cast<std::size_t>(id)]; }
  // Float initializer data copied out (nullptr-safe: empty when not an initializer).
  std::vector<float> floats(int id) const;
  // Int64 initializer data (shape / pads / slice inputs); false when not an int64 initializer.
  bool ints(int id, std::vector<long long>* out) const;
  // A float initializer with exactly one element (any rank): its value.
  bool scalar(int id, float* out) const;
  // The single consumer of a value, or -1 if it has none or more than one (or is an output).
  int sole_consumer(int id) const;
};

// Builds the graph and infers every value's shape at limits.batch. Refuses, with a one-line
// message naming the node or tensor: an op outside the supported set (reference.h), an
// attribute the op's kernel does not implement, a cycle or an undefined input, a shape input
// that is not a constant, a non-finite float initializer, a value over the limits.
bool build_graph(const ModelFile& m, const GraphLimits& limits, Graph* out, std::string* error);

// A name from the file made printable for a message: non-printable bytes as '?', at most 64
// characters (then "...").
std::string printable(std::string_view s);
// A shape as "[2,3,4]".
std::string shape_string(const std::vector<long long>& shape);

// A digest of the model's structure: nodes (op, domain, inputs, outputs, attributes), graph
// inputs and outputs, opsets; not initializer data and not metadata. CRC-32 over a canonical
// byte string (wno_edge/onnx/digest.py writes the same one), as 8 hex digits.
std::string structure_digest(const ModelFile& m);

}  // namespace wno::engine
