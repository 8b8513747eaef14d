// build_graph: the file's graph checked and shape-inferred at one batch (graph.h).
#include "graph.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_set>

#include "reference.h"
#include "wno/contract.h"

namespace wno::engine {

namespace {

constexpr int kMaxRank = 8;
constexpr long long kMaxAttr = 1LL << 31;  // strides, dilations, kernel and pads values
constexpr long long kBig = 1LL << 62;      // saturation of element counts
constexpr std::size_t kMaxMessage = 200;   // a refusal, in characters

// a * b, or -1 when it would pass kBig (both >= 0).
long long mul_sat(long long a, long long b) {
  long long r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r) || r > kBig) return -1;
  return r;
}

long long count(const std::vector<long long>& shape) {
  long long n = 1;
  for (const long long d : shape) {
    n = mul_sat(n, d);
    if (n < 0) return -1;
  }
  return n;
}

bool is_default_domain(std::string_view d) { return d.empty() || d == "ai.onnx"; }

// Decodes packed int64 varints; false when malformed. Appends at most `limit` values (then
// keeps counting into *n).
bool varints(Bytes b, std::vector<long long>* out, long long* n) {
  const std::uint8_t* p = b.data;
  const std::uint8_t* const end = b.data + b.size;
  *n = 0;
  while (p != end) {
    std::uint64_t v = 0;
    bool ok = false;
    for (int shift = 0; shift < 64 && p != end; shift += 7) {
      const std::uint8_t c = *p++;
      v |= static_cast<std::uint64_t>(c & 0x7F) << shift;
      if (c < 0x80) {
        ok = true;
        break;
      }
    }
    if (!ok) return false;
    if (out) out->push_back(static_cast<long long>(v));
    ++*n;
  }
  return true;
}

const char* type_name(int t) {
  switch (t) {
    case 1:
      return "float32";
    case 2:
      return "uint8";
    case 3:
      return "int8";
    case 4:
      return "uint16";
    case 5:
      return "int16";
    case 6:
      return "int32";
    case 7:
      return "int64";
    case 8:
      return "string";
    case 9:
      return "bool";
    case 10:
      return "float16";
    case 11:
      return "float64";
    case 12:
      return "uint32";
    case 13:
      return "uint64";
    case 16:
      return "bfloat16";
    default:
      return "of an unsupported type";
  }
}

struct OpName {
  const char* name;
  Op op;
};
constexpr OpName kOps[] = {
    {"Add", Op::kAdd},         {"Sub", Op::kSub},
    {"Mul", Op::kMul},         {"Div", Op::kDiv},
    {"Erf", Op::kErf},         {"Gelu", Op::kGelu},
    {"Sigmoid", Op::kSigmoid}, {"MatMul", Op::kMatMul},
    {"Reshape", Op::kReshape}, {"Transpose", Op::kTranspose},
    {"Pad", Op::kPad},         {"Slice", Op::kSlice},
    {"Conv", Op::kConv},       {"Identity", Op::kIdentity},
    {"DFT", Op::kDFT},
};

}  // namespace

bool op_of(std::string_view domain, std::string_view op_type, Op* op) {
  if (domain == contract::kOpDomain) {
    if (op_type != contract::kOpName) return false;
    *op = Op::kWinogradConv;
    return true;
  }
  if (!is_default_domain(domain)) return false;
  for (const OpName& o : kOps)
    if (op_type == o.name) {
      *op = o.op;
      return true;
    }
  return false;
}

namespace {

class Builder {
 public:
  Builder(const ModelFile& m, const GraphLimits& lim, Graph* g, std::string* err)
      : m_(m), lim_(lim), g_(*g), err_(*err) {}

  bool run();

 private:
  bool fail(std::string msg) {
    for (char& c : msg)
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '?';
    if (msg.size() > kMaxMessage) msg = msg.substr(0, kMaxMessage - 3) + "...";
    err_ = std::move(msg);
    return false;
  }
  bool node_fail(const GraphNode& n, const std::string& what) {
    return fail("node " + n.label() + ": " + what);
  }

  int add_value(std::string_view name, std::vector<long long> shape, int dtype, int producer) {
    Value v;
    v.name = name;
    v.shape = std::move(shape);
    v.dtype = dtype;
    v.producer = producer;
    g_.values.push_back(std::move(v));
    const int id = static_cast<int>(g_.values.size() - 1);
    g_.by_name.emplace(name, id);
    return id;
  }
  // The byte limit of one value (and the running total of the computed ones).
  bool check_size(std::string_view name, const std::vector<long long>& shape, int dtype,
                  bool computed) {
    if (static_cast<int>(shape.size()) > kMaxRank)
      return fail("value " + printable(name) + " has rank " + std::to_string(shape.size()) +
                  ", more than " + std::to_string(kMaxRank));
    const long long n = count(shape);
    const long long bytes = mul_sat(n, dtype == kInt64 ? 8 : 4);
    if (n < 0 || bytes < 0 || bytes > lim_.max_tensor_bytes)
      return fail("value " + printable(name) + " of shape " + shape_string(shape) +
                  " is larger than the limit of " + std::to_string(lim_.max_tensor_bytes) +
                  " bytes");
    if (computed) {
      if (n == 0)
        return fail("value " + printable(name) + " of shape " + shape_string(shape) +
                    " has no elements");
      total_ += bytes;
      if (total_ > lim_.max_total_bytes)
        return fail("the values up to " + printable(name) + " need more than the limit of " +
                    std::to_string(lim_.max_total_bytes) + " bytes");
    }
    return true;
  }

  bool initializers();
  bool input_output();
  bool functions();
  bool node(std::size_t index);
  bool winograd_functions();
  bool output();

  // Attribute access with type checks (false after fail()).
  bool check_attrs(const GraphNode& n, std::initializer_list<const char*> known);
  bool attr_int(const GraphNode& n, const char* name, long long* v, bool* present = nullptr);
  bool attr_ints(const GraphNode& n, const char* name, std::vector<long long>* v,
                 bool* present = nullptr);
  bool attr_string(const GraphNode& n, const char* name, std::string_view* v,
                   bool* present = nullptr);
  // A constant int64 input (rank 0 or 1).
  bool const_ints(const GraphNode& n, int slot, const char* what, std::vector<long long>* v);
  bool float_input(const GraphNode& n, int slot);

  bool infer(GraphNode& n, std::vector<long long>* shape);
  bool broadcast(GraphNode& n, std::vector<long long>* shape);
  bool matmul(GraphNode& n, std::vector<long long>* shape);
  bool reshape(GraphNode& n, std::vector<long long>* shape);
  bool transpose(GraphNode& n, std::vector<long long>* shape);
  bool axis(GraphNode& n, const std::vector<long long>& axes, std::size_t i, long long r,
            std::vector<bool>* seen, long long* out);
  bool pad(GraphNode& n, std::vector<long long>* shape);
  bool slice(GraphNode& n, std::vector<long long>* shape);
  bool conv(GraphNode& n, std::vector<long long>* shape);
  bool winograd(GraphNode& n, std::vector<long long>* shape);
  bool conv_shape(GraphNode& n, std::vector<long long>* shape);
  bool dft(GraphNode& n, std::vector<long long>* shape);
  bool const_int(const GraphNode& n, int slot, const char* what, long long* v);

  const std::vector<long long>& shape(const GraphNode& n, int slot) const {
    return g_.value(n.in[static_cast<std::size_t>(slot)]).shape;
  }

  const ModelFile& m_;
  const GraphLimits& lim_;
  Graph& g_;
  std::string& err_;
  long long total_ = 0;
  std::int64_t opset_ = 0;                      // the default domain's
  std::unordered_set<std::string_view> later_;  // names computed by some node of the file
};

bool Builder::initializers() {
  for (const Tensor& t : m_.initializers) {
    const std::string name = printable(t.name);
    if (t.name.empty()) return fail("an initializer has no name");
    if (g_.by_name.count(t.name)) return fail("initializer " + name + " appears twice");
    if (t.external) return fail("initializer " + name + " uses external data");
    if (t.data_type != kFloat && t.data_type != kInt64)
      return fail("initializer " + name + " is " + type_name(t.data_type) +
                  ": the native engine runs float32 exports");
    std::vector<long long> dims;
    for (const std::int64_t d : t.dims) {
      if (d < 0) return fail("initializer " + name + " has a negative dim");
      dims.push_back(d);
    }
    if (!check_size(t.name, dims, t.data_type, false)) return false;
    const long long n = count(dims);
    long long have = -1;
    if (t.data_field == 0) have = 0;
    if (t.data_type == kFloat && (t.data_field == 9 || t.data_field == 4) && t.data.size % 4 == 0)
      have = static_cast<long long>(t.data.size / 4);
    if (t.data_type == kInt64 && t.data_field == 9 && t.data.size % 8 == 0)
      have = static_cast<long long>(t.data.size / 8);
    if (t.data_type == kInt64 && t.data_field == 7 && !varints(t.data, nullptr, &have))
      return fail("initializer " + name + " holds malformed int64_data");
    if (have != n)
      return fail("initializer " + name + " holds " +
                  (have < 0 ? std::string("data of another type") : std::to_string(have)) +
                  " values, its shape " + shape_string(dims) + " needs " + std::to_string(n));
    if (t.data_type == kFloat)
      for (long long i = 0; i < n; ++i) {
        float x;
        std::memcpy(&x, t.data.data + i * 4, 4);
        if (!std::isfinite(x)) return fail("initializer " + name + " holds NaN or Inf");
      }
    const int id = add_value(t.name, std::move(dims), t.data_type, -1);
    g_.values.back().init = &t;
    (void)id;
  }
  return true;
}

bool Builder::input_output() {
  const ValueInfo* in = nullptr;
  int inputs = 0;
  for (const ValueInfo& vi : m_.inputs) {
    if (m_.initializer(vi.name)) continue;  // an initializer listed as an input (old ONNX)
    ++inputs;
    in = &vi;
  }
  if (inputs != 1)
    return fail("the graph has " + std::to_string(inputs) +
                " inputs that are not initializers; the native engine runs exactly one");
  if (m_.outputs.size() != 1)
    return fail("the graph has " + std::to_string(m_.outputs.size()) +
                " outputs; the native engine runs exactly one");
  const std::string name = printable(in->name);
  if (in->name.empty()) return fail("the graph input has no name");
  if (in->elem_type != kFloat)
    return fail("the graph input " + name + " is " + type_name(in->elem_type) + ", not float32");
  if (!in->has_shape) return fail("the graph input " + name + " has no shape");
  if (in->dims.empty()) return fail("the graph input " + name + " is a scalar");
  if (in->dims.size() > static_cast<std::size_t>(kMaxRank))
    return fail("the graph input " + name + " has rank " + std::to_string(in->dims.size()));
  std::vector<long long> shape;
  for (std::size_t i = 0; i < in->dims.size(); ++i) {
    const long long d = in->dims[i];
    if (d < 0 && i > 0)
      return fail("the graph input " + name + " has a symbolic dim " + std::to_string(i) +
                  "; only the batch (dim 0) may be");
    if (d == 0) return fail("the graph input " + name + " has a zero dim");
    shape.push_back(d);
  }
  g_.batch_dynamic = shape[0] < 0;
  if (lim_.batch < 0) return fail("the batch " + std::to_string(lim_.batch) + " is negative");
  if (g_.batch_dynamic) {
    g_.batch = lim_.batch > 0 ? lim_.batch : 1;
  } else {
    if (lim_.batch > 0 && lim_.batch != shape[0])
      return fail("the file has a fixed batch of " + std::to_string(shape[0]) + ", asked for " +
                  std::to_string(lim_.batch));
    if (shape[0] > (1LL << 31)) return fail("the graph input " + name + " has a huge batch");
    g_.batch = static_cast<int>(shape[0]);
  }
  shape[0] = g_.batch;
  if (!check_size(in->name, shape, kFloat, true)) return false;
  g_.input = add_value(in->name, std::move(shape), kFloat, -1);
  g_.values.back().is_input = true;
  const ValueInfo& out = m_.outputs[0];
  if (out.elem_type != kFloat)
    return fail("the graph output " + printable(out.name) + " is " + type_name(out.elem_type) +
                ", not float32");
  return true;
}

bool Builder::functions() {
  for (const Function& f : m_.functions) {
    if (f.domain == contract::kOpDomain && f.name == contract::kOpName) continue;
    for (const Node& nd : m_.nodes)
      if (nd.domain == f.domain && nd.op_type == f.name) {
        GraphNode n;
        n.node = &nd;
        n.index = static_cast<int>(&nd - m_.nodes.data());
        return node_fail(n, "op " + printable(nd.domain) + (nd.domain.empty() ? "" : "::") +
                                printable(nd.op_type) +
                                " (a model-local function) is not supported by the native engine");
      }
  }
  return true;
}

bool Builder::check_attrs(const GraphNode& n, std::initializer_list<const char*> known) {
  const auto& attrs = n.node->attributes;
  for (std::size_t i = 0; i < attrs.size(); ++i) {
    const Attribute& a = attrs[i];
    bool ok = false;
    for (const char* k : known) ok = ok || a.name == k;
    if (!ok) return node_fail(n, "attribute " + printable(a.name) + " is not supported");
    for (std::size_t j = 0; j < i; ++j)
      if (attrs[j].name == a.name)
        return node_fail(n, "attribute " + printable(a.name) + " appears twice");
    if (!a.ref_attr_name.empty())
      return node_fail(n, "attribute " + printable(a.name) + " refers to a function attribute");
  }
  return true;
}

bool Builder::attr_int(const GraphNode& n, const char* name, long long* v, bool* present) {
  const Attribute* a = n.node->find(name);
  if (present) *present = a != nullptr;
  if (!a) return true;
  if (a->type != 2) return node_fail(n, std::string("attribute ") + name + " is not an INT");
  *v = a->i;
  return true;
}

bool Builder::attr_ints(const GraphNode& n, const char* name, std::vector<long long>* v,
                        bool* present) {
  const Attribute* a = n.node->find(name);
  if (present) *present = a != nullptr;
  if (!a) return true;
  if (a->type != 7) return node_fail(n, std::string("attribute ") + name + " is not INTS");
  v->assign(a->ints.begin(), a->ints.end());
  return true;
}

bool Builder::attr_string(const GraphNode& n, const char* name, std::string_view* v,
                          bool* present) {
  const Attribute* a = n.node->find(name);
  if (present) *present = a != nullptr;
  if (!a) return true;
  if (a->type != 3) return node_fail(n, std::string("attribute ") + name + " is not a STRING");
  *v = a->s;
  return true;
}

bool Builder::const_ints(const GraphNode& n, int slot, const char* what,
                         std::vector<long long>* v) {
  const int id = n.in[static_cast<std::size_t>(slot)];
  const Value& val = g_.value(id);
  if (!val.init || val.dtype != kInt64)
    return node_fail(n, std::string("input ") + printable(val.name) + " (" + what +
                            ") must be an int64 initializer");
  if (val.shape.size() > 1)
    return node_fail(n, std::string("input ") + printable(val.name) + " (" + what + ") is not 1-D");
  if (!g_.ints(id, v))
    return node_fail(n, std::string("input ") + printable(val.name) + " is unreadable");
  return true;
}

bool Builder::float_input(const GraphNode& n, int slot) {
  const Value& v = g_.value(n.in[static_cast<std::size_t>(slot)]);
  if (v.dtype != kFloat)
    return node_fail(n,
                     "input " + printable(v.name) + " is " + type_name(v.dtype) + ", not float32");
  return true;
}

bool Builder::broadcast(GraphNode& n, std::vector<long long>* out) {
  if (!check_attrs(n, {})) return false;
  const auto& a = shape(n, 0);
  const auto& b = shape(n, 1);
  const std::size_t r = std::max(a.size(), b.size());
  out->assign(r, 1);
  for (std::size_t i = 0; i < r; ++i) {
    const long long da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const long long db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      return node_fail(
          n, "shapes " + shape_string(a) + " and " + shape_string(b) + " do not broadcast");
    (*out)[i] = da == 1 ? db : da;
  }
  return true;
}

bool Builder::matmul(GraphNode& n, std::vector<long long>* out) {
  if (!check_attrs(n, {})) return false;
  std::vector<long long> a = shape(n, 0), b = shape(n, 1);
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a.empty() || b.empty()) return node_fail(n, "MatMul of a scalar");
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  const long long k = a.back(), k2 = b[b.size() - 2];
  if (k != k2)
    return node_fail(n, "shapes " + shape_string(shape(n, 0)) + " and " +
                            shape_string(shape(n, 1)) + " do not multiply");
  const std::size_t ra = a.size() - 2, rb = b.size() - 2, r = std::max(ra, rb);
  out->assign(r, 1);
  for (std::size_t i = 0; i < r; ++i) {
    const long long da = i < r - ra ? 1 : a[i - (r - ra)];
    const long long db = i < r - rb ? 1 : b[i - (r - rb)];
    if (da != db && da != 1 && db != 1)
      return node_fail(n, "batch dims of " + shape_string(shape(n, 0)) + " and " +
                              shape_string(shape(n, 1)) + " do not broadcast");
    (*out)[i] = da == 1 ? db : da;
  }
  if (!a1) out->push_back(a[a.size() - 2]);
  if (!b1) out->push_back(b.back());
  return true;
}

bool Builder::reshape(GraphNode& n, std::vector<long long>* out) {
  if (!check_attrs(n, {"allowzero"})) return false;
  long long allowzero = 0;
  if (!attr_int(n, "allowzero", &allowzero)) return false;
  if (allowzero != 0 && allowzero != 1)
    return node_fail(n, "allowzero " + std::to_string(allowzero) + " is not 0 or 1");
  std::vector<long long> s;
  if (!const_ints(n, 1, "shape", &s)) return false;
  const auto& in = shape(n, 0);
  if (s.size() > static_cast<std::size_t>(kMaxRank))
    return node_fail(n, "shape has " + std::to_string(s.size()) + " dims");
  int minus = -1;
  long long known = 1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (minus >= 0) return node_fail(n, "shape has two -1 dims");
      minus = static_cast<int>(i);
      continue;
    }
    if (s[i] < -1) return node_fail(n, "shape dim " + std::to_string(s[i]) + " is invalid");
    if (s[i] == 0 && !allowzero) {
      if (i >= in.size())
        return node_fail(n, "shape dim " + std::to_string(i) + " copies a dim the input lacks");
      s[i] = in[i];
    }
    known = mul_sat(known, s[i]);
    if (known < 0) return node_fail(n, "shape " + shape_string(s) + " is too large");
  }
  const long long total = count(in);
  if (minus >= 0) {
    if (known == 0 || total % known != 0)
      return node_fail(n, "cannot reshape " + shape_string(in) + " to " + shape_string(s));
    s[static_cast<std::size_t>(minus)] = total / known;
  } else if (known != total) {
    return node_fail(n, "cannot reshape " + shape_string(in) + " to " + shape_string(s));
  }
  *out = s;
  return true;
}

bool Builder::transpose(GraphNode& n, std::vector<long long>* out) {
  if (!check_attrs(n, {"perm"})) return false;
  const auto& in = shape(n, 0);
  const long long r = static_cast<long long>(in.size());
  std::vector<long long> perm;
  bool present = false;
  if (!attr_ints(n, "perm", &perm, &present)) return false;
  if (!present)
    for (long long i = r - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<long long>(perm.size()) != r)
    return node_fail(
        n, "perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(r));
  std::vector<bool> seen(static_cast<std::size_t>(r), false);
  out->clear();
  for (long long& p : perm) {
    if (p < 0) p += r;  // ORT accepts negative axes
    if (p < 0 || p >= r || seen[static_cast<std::size_t>(p)])
      return node_fail(n, "perm " + shape_string(perm) + " is not a permutation");
    seen[static_cast<std::size_t>(p)] = true;
    out->push_back(in[static_cast<std::size_t>(p)]);
  }
  n.p.perm = perm;
  return true;
}

// axes[i] of a rank-r tensor, negative counted from the end, each axis once (Pad, Slice).
bool Builder::axis(GraphNode& n, const std::vector<long long>& axes, std::size_t i, long long r,
                   std::vector<bool>* seen, long long* out) {
  long long a = axes[i];
  if (a < 0) a += r;
  if (a < 0 || a >= r || (*seen)[static_cast<std::size_t>(a)])
    return node_fail(n,
                     "axes " + shape_string(axes) + " are invalid for rank " + std::to_string(r));
  (*seen)[static_cast<std::size_t>(a)] = true;
  *out = a;
  return true;
}

bool Builder::pad(GraphNode& n, std::vector<long long>* out) {
  if (!check_attrs(n, {"mode"})) return false;
  std::string_view mode = "constant";
  if (!attr_string(n, "mode", &mode)) return false;
  if (mode != "constant") return node_fail(n, "mode " + printable(mode) + " is not supported");
  const auto& in = shape(n, 0);
  const long long r = static_cast<long long>(in.size());
  std::vector<long long> pads, axes;
  if (!const_ints(n, 1, "pads", &pads)) return false;
  const std::size_t ni = n.in.size();
  if (ni > 2 && n.in[2] >= 0) {
    float v = 0.0f;
    const Value& cv = g_.value(n.in[2]);
    if (!cv.init || cv.dtype != kFloat || cv.shape.size() > 1 || !g_.scalar(n.in[2], &v))
      return node_fail(n, "constant_value " + printable(cv.name) +
                              " must be a float initializer with one element");
    n.p.value = v;
  }
  if (ni > 3 && n.in[3] >= 0) {
    if (!const_ints(n, 3, "axes", &axes)) return false;
  } else {
    for (long long i = 0; i < r; ++i) axes.push_back(i);
  }
  if (pads.size() != 2 * axes.size())
    return node_fail(n, "pads has " + std::to_string(pads.size()) + " values for " +
                            std::to_string(axes.size()) + " axes");
  n.p.begin.assign(static_cast<std::size_t>(r), 0);
  n.p.end.assign(static_cast<std::size_t>(r), 0);
  std::vector<bool> seen(static_cast<std::size_t>(r), false);
  for (std::size_t i = 0; i < axes.size(); ++i) {
    long long a = 0;
    if (!axis(n, axes, i, r, &seen, &a)) return false;
    const long long b = pads[i], e = pads[i + axes.size()];
    if (b < -kMaxAttr || b > kMaxAttr || e < -kMaxAttr || e > kMaxAttr)
      return node_fail(n, "pads " + shape_string(pads) + " are out of range");
    n.p.begin[static_cast<std::size_t>(a)] = b;
    n.p.end[static_cast<std::size_t>(a)] = e;
  }
  *out = in;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const long long d = in[i] + n.p.begin[i] + n.p.end[i];
    if (d < 0)
      return node_fail(
          n, "pads " + shape_string(pads) + " crop more than the input " + shape_string(in));
    (*out)[i] = d;
  }
  return true;
}

bool Builder::slice(GraphNode& n, std::vector<long long>* out) {
  if (!check_attrs(n, {})) return false;
  const auto& in = shape(n, 0);
  const long long r = static_cast<long long>(in.size());
  std::vector<long long> starts, ends, axes, steps;
  if (!const_ints(n, 1, "starts", &starts) || !const_ints(n, 2, "ends", &ends)) return false;
  const std::size_t ni = n.in.size();
  if (ni > 3 && n.in[3] >= 0) {
    if (!const_ints(n, 3, "axes", &axes)) return false;
  } else {
    for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<long long>(i));
  }
  if (ni > 4 && n.in[4] >= 0) {
    if (!const_ints(n, 4, "steps", &steps)) return false;
  } else {
    steps.assign(starts.size(), 1);
  }
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return node_fail(n, "starts, ends, axes and steps differ in length");
  n.p.starts.assign(static_cast<std::size_t>(r), 0);
  n.p.steps.assign(static_cast<std::size_t>(r), 1);
  *out = in;
  std::vector<bool> seen(static_cast<std::size_t>(r), false);
  for (std::size_t i = 0; i < starts.size(); ++i) {
    long long a = 0;
    if (!axis(n, axes, i, r, &seen, &a)) return false;
    const long long dim = in[static_cast<std::size_t>(a)];
    long long step = steps[i];
    if (step == 0) return node_fail(n, "a step is 0");
    long long start = starts[i], end = ends[i];
    if (start < 0) start += dim;  // no overflow: dim >= 0
    if (end < 0) end += dim;
    long long len;
    if (dim == 0) {
      start = 0;
      len = 0;
    } else if (step > 0) {
      start = std::clamp(start, 0LL, dim);
      end = std::clamp(end, 0LL, dim);
      step = std::min(step, std::max(dim, 1LL));
      len = end > start ? (end - start + step - 1) / step : 0;
    } else {
      start = std::clamp(start, 0LL, dim - 1);
      end = std::clamp(end, -1LL, dim - 1);
      step = std::max(step, -std::max(dim, 1LL));
      len = start > end ? (start - end - step - 1) / -step : 0;
    }
    n.p.starts[static_cast<std::size_t>(a)] = start;
    n.p.steps[static_cast<std::size_t>(a)] = step;
    (*out)[static_cast<std::size_t>(a)] = len;
  }
  return true;
}

// Conv output shape from n.p (kernel, strides, dilations, pads filled in), X and W.
bool Builder::conv_shape(GraphNode& n, std::vector<long long>* out) {
  const auto& x = shape(n, 0);
  const auto& w = shape(n, 1);
  out->assign({x[0], w[0]});
  for (std::size_t i = 0; i + 2 < x.size(); ++i) {
    const long long dk = (n.p.kernel[i] - 1) * n.p.dilations[i] + 1;  // < 2^62
    const long long span = x[i + 2] + n.p.pads_begin[i] + n.p.pads_end[i] - dk;
    if (span < 0)
      return node_fail(n, "the kernel " + shape_string(n.p.kernel) +
                              " is larger than the padded input " + shape_string(x));
    out->push_back(span / n.p.strides[i] + 1);
  }
  return true;
}

bool Builder::conv(GraphNode& n, std::vector<long long>* out) {
  if (!check_attrs(n, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}))
    return false;
  const auto& x = shape(n, 0);
  const auto& w = shape(n, 1);
  if (x.size() < 3 || x.size() > 5)
    return node_fail(n, "input " + shape_string(x) + " is not 3-D, 4-D or 5-D");
  const std::size_t sp = x.size() - 2;
  if (w.size() != x.size())
    return node_fail(n, "weight " + shape_string(w) + " does not match input " + shape_string(x));
  long long group = 1;
  std::string_view auto_pad = "NOTSET";
  std::vector<long long> kernel, strides(sp, 1), dilations(sp, 1), pads(2 * sp, 0);
  bool has_kernel = false, has_pads = false;
  if (!attr_int(n, "group", &group) || !attr_string(n, "auto_pad", &auto_pad) ||
      !attr_ints(n, "kernel_shape", &kernel, &has_kernel) || !attr_ints(n, "strides", &strides) ||
      !attr_ints(n, "dilations", &dilations) || !attr_ints(n, "pads", &pads, &has_pads))
    return false;
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" &&
      auto_pad != "SAME_LOWER")
    return node_fail(n, "auto_pad " + printable(auto_pad) + " is not supported");
  if (auto_pad.substr(0, 4) == "SAME" &&
      std::any_of(dilations.begin(), dilations.end(), [](long long d) { return d != 1; }))
    return node_fail(n, "auto_pad " + printable(auto_pad) + " with dilations other than 1");
  if (has_pads && auto_pad != "NOTSET")
    return node_fail(n, "pads together with auto_pad " + printable(auto_pad));
  if (group < 1 || group > kMaxAttr || x[1] % group != 0 || w[0] % group != 0 ||
      x[1] / group != w[1])
    return node_fail(n, "group " + std::to_string(group) + " does not fit input " +
                            shape_string(x) + " and weight " + shape_string(w));
  const std::vector<long long> wk(w.begin() + 2, w.end());
  if (has_kernel && kernel != wk)
    return node_fail(
        n, "kernel_shape " + shape_string(kernel) + " is not the weight's " + shape_string(w));
  if (strides.size() != sp || dilations.size() != sp || pads.size() != 2 * sp)
    return node_fail(n, "strides, dilations or pads do not have one entry per spatial dim");
  for (std::size_t i = 0; i < sp; ++i)
    if (strides[i] < 1 || strides[i] > kMaxAttr || dilations[i] < 1 || dilations[i] > kMaxAttr ||
        pads[i] < 0 || pads[i] > kMaxAttr || pads[i + sp] < 0 || pads[i + sp] > kMaxAttr ||
        wk[i] > kMaxAttr)
      return node_fail(n, "strides, dilations or pads out of range");
  if (n.in.size() > 2 && n.in[2] >= 0) {
    const auto& b = shape(n, 2);
    if (b.size() != 1 || b[0] != w[0])
      return node_fail(n, "bias " + shape_string(b) + " does not match weight " + shape_string(w));
  }
  n.p.group = group;
  n.p.kernel = wk;
  n.p.strides = strides;
  n.p.dilations = dilations;
  n.p.pads_begin.assign(pads.begin(), pads.begin() + static_cast<long>(sp));
  n.p.pads_end.assign(pads.begin() + static_cast<long>(sp), pads.end());
  if (auto_pad == "VALID") {
    n.p.pads_begin.assign(sp, 0);
    n.p.pads_end.assign(sp, 0);
  } else if (auto_pad != "NOTSET") {  // as ONNX Runtime's ComputePadAndOutputShape
    for (std::size_t i = 0; i < sp; ++i) {
      const long long in = x[i + 2], s = strides[i];
      const long long dk = (wk[i] - 1) * dilations[i] + 1;
      const long long target = in / s + (in % s != 0);
      long long needed = (target - 1) * s + dk - in;
      // ONNX Runtime pads negatively there (inconsistently between UPPER and LOWER): refused
      if (needed < -1)
        return node_fail(n, "auto_pad " + printable(auto_pad) + " with stride " +
                                std::to_string(s) + " crops the input " + shape_string(x));
      needed = std::max(needed, 0LL);  // -1: ONNX Runtime's head is 0 as well
      const long long head = auto_pad == "SAME_LOWER" ? (needed + 1) / 2 : needed / 2;
      n.p.pads_begin[i] = head;
      n.p.pads_end[i] = needed - head;
    }
  }
  return conv_shape(n, out);
}

bool Builder::winograd(GraphNode& n, std::vector<long long>* out) {
  if (!check_attrs(n, {"tile", "padding", "plugin_version", "plugin_namespace"})) return false;
  long long tile = 0, padding = 0;
  bool has_tile = false, has_padding = false, has_version = false;
  std::string_view version, ns;
  if (!attr_int(n, "tile", &tile, &has_tile) || !attr_int(n, "padding", &padding, &has_padding) ||
      !attr_string(n, "plugin_version", &version, &has_version) ||
      !attr_string(n, "plugin_namespace", &ns))
    return false;
  if (!has_tile || !contract::valid_tile(tile))
    return node_fail(n, "tile " + (has_tile ? std::to_string(tile) : std::string("(missing)")) +
                            " is not 2, 4 or 6");
  if (!has_padding || !contract::valid_padding(padding))
    return node_fail(n, "padding " +
                            (has_padding ? std::to_string(padding) : std::string("(missing)")) +
                            " is not 0 or 1");
  if (has_version && version != contract::kPluginVersion)
    return node_fail(
        n, "plugin_version " + printable(version) + " is not " + contract::kPluginVersion);
  if (n.in.size() != 3 || n.in[2] < 0) return node_fail(n, "WinogradConv needs X, W and B");
  const auto& x = shape(n, 0);
  const auto& w = shape(n, 1);
  const auto& b = shape(n, 2);
  // export/SPEC.md: X (N, C, H, W) with W (K, C, 3, 3), or X (N, C, X) with W (K, C, 3) (1-D)
  const std::size_t sp = x.size() - 2;
  bool ok = (x.size() == 4 || x.size() == 3) && w.size() == x.size() && w[1] == x[1] &&
            b.size() == 1 && b[0] == w[0];
  for (std::size_t i = 2; ok && i < w.size(); ++i) ok = w[i] == 3;
  if (!ok)
    return node_fail(n, "input " + shape_string(x) + ", weight " + shape_string(w) + ", bias " +
                            shape_string(b) + " are not a 3x3 (1-D: 3-tap) convolution");
  n.p.group = 1;
  n.p.tile = tile;
  n.p.kernel.assign(sp, 3);
  n.p.strides.assign(sp, 1);
  n.p.dilations.assign(sp, 1);
  n.p.pads_begin.assign(sp, padding);
  n.p.pads_end.assign(sp, padding);
  return conv_shape(n, out);
}

// A constant int64 input holding one value (rank 0 or [1]).
bool Builder::const_int(const GraphNode& n, int slot, const char* what, long long* v) {
  std::vector<long long> vs;
  if (!const_ints(n, slot, what, &vs)) return false;
  if (vs.size() != 1)
    return node_fail(n,
                     std::string(what) + " has " + std::to_string(vs.size()) + " values, not one");
  *v = vs[0];
  return true;
}

// DFT, opset 17 (axis an attribute) and 20 (axis an input); input [..., n, ..., 1 or 2].
bool Builder::dft(GraphNode& n, std::vector<long long>* out) {
  constexpr long long kMaxLength = 1LL << 16;  // the reference kernel's table (reference.cpp)
  if (opset_ < 17)
    return node_fail(n, "DFT needs ONNX opset 17, the file imports " + std::to_string(opset_));
  const bool axis_input = opset_ >= 20;
  if (!check_attrs(n, axis_input
                          ? std::initializer_list<const char*>{"inverse", "onesided"}
                          : std::initializer_list<const char*>{"axis", "inverse", "onesided"}))
    return false;
  long long inverse = 0, onesided = 0, axis = axis_input ? -2 : 1;
  if (!attr_int(n, "inverse", &inverse) || !attr_int(n, "onesided", &onesided)) return false;
  if (inverse != 0 && inverse != 1) return node_fail(n, "inverse must be 0 or 1");
  if (onesided != 0 && onesided != 1) return node_fail(n, "onesided must be 0 or 1");
  const std::size_t ni = n.in.size();
  if (axis_input) {
    if (ni > 2 && n.in[2] >= 0 && !const_int(n, 2, "axis", &axis)) return false;
  } else {
    if (ni > 2) return node_fail(n, "an axis input needs opset 20; opset 17 takes the attribute");
    if (!attr_int(n, "axis", &axis)) return false;
  }
  const auto& in = shape(n, 0);
  const long long r = static_cast<long long>(in.size());
  if (r < 2) return node_fail(n, "input " + shape_string(in) + " has no signal axis");
  const long long parts = in.back();
  if (parts != 1 && parts != 2)
    return node_fail(
        n, "input " + shape_string(in) + " ends in neither 1 (real) nor 2 (complex) values");
  const long long a = axis < 0 ? axis + r : axis;
  if (a < 0 || a > r - 2)
    return node_fail(n, "axis " + std::to_string(axis) + " is invalid for rank " +
                            std::to_string(r) + " (the last axis holds re, im)");
  const bool irfft = inverse && onesided;
  if (onesided && !inverse && parts != 1)
    return node_fail(n, "a onesided forward DFT needs real input (last dim 1)");
  if (irfft && parts != 2)
    return node_fail(n, "a onesided inverse DFT needs complex input (last dim 2)");
  const long long have = in[static_cast<std::size_t>(a)];
  long long length = irfft ? 2 * (have - 1) : have;
  if (ni > 1 && n.in[1] >= 0 && !const_int(n, 1, "dft_length", &length)) return false;
  if (length < 1 || length > kMaxLength)
    return node_fail(
        n, "dft_length " + std::to_string(length) + " is outside 1.." + std::to_string(kMaxLength));
  // ONNX Runtime reads exactly n/2+1 bins for an IRFFT and computes something else otherwise.
  if (irfft && have != length / 2 + 1)
    return node_fail(n, "a onesided inverse DFT of length " + std::to_string(length) + " needs " +
                            std::to_string(length / 2 + 1) + " bins on axis " + std::to_string(a) +
                            ", the input has " + std::to_string(have));
  n.p.dft_axis = a;
  n.p.dft_length = length;
  n.p.dft_inverse = inverse != 0;
  n.p.dft_onesided = onesided != 0;
  *out = in;
  (*out)[static_cast<std::size_t>(a)] = onesided && !inverse ? length / 2 + 1 : length;
  out->back() = irfft ? 1 : 2;
  return true;
}

bool Builder::infer(GraphNode& n, std::vector<long long>* out) {
  const std::size_t ni = n.in.size();
  auto inputs = [&](std::size_t lo, std::size_t hi) {
    if (ni < lo || ni > hi)
      return node_fail(n, "has " + std::to_string(ni) + " inputs, the op takes " +
                              std::to_string(lo) + (lo == hi ? "" : " to " + std::to_string(hi)));
    for (std::size_t i = 0; i < lo; ++i)
      if (n.in[i] < 0) return node_fail(n, "input " + std::to_string(i) + " is missing");
    return true;
  };
  switch (n.op) {
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv:
      return inputs(2, 2) && float_input(n, 0) && float_input(n, 1) && broadcast(n, out);
    case Op::kErf:
    case Op::kSigmoid:
    case Op::kIdentity:
      if (!inputs(1, 1) || !float_input(n, 0) || !check_attrs(n, {})) return false;
      *out = shape(n, 0);
      return true;
    case Op::kGelu: {
      if (!inputs(1, 1) || !float_input(n, 0) || !check_attrs(n, {"approximate"})) return false;
      if (opset_ < 20)
        return node_fail(n, "Gelu needs ONNX opset 20, the file imports " + std::to_string(opset_));
      std::string_view approx = "none";
      if (!attr_string(n, "approximate", &approx)) return false;
      if (approx != "none" && approx != "tanh")
        return node_fail(n, "approximate " + printable(approx) + " is not supported");
      n.p.gelu_tanh = approx == "tanh";
      *out = shape(n, 0);
      return true;
    }
    case Op::kMatMul:
      return inputs(2, 2) && float_input(n, 0) && float_input(n, 1) && matmul(n, out);
    case Op::kReshape:
      return inputs(2, 2) && float_input(n, 0) && reshape(n, out);
    case Op::kTranspose:
      return inputs(1, 1) && float_input(n, 0) && transpose(n, out);
    case Op::kPad:
      return inputs(2, 4) && float_input(n, 0) && pad(n, out);
    case Op::kSlice:
      return inputs(3, 5) && float_input(n, 0) && slice(n, out);
    case Op::kConv:
      if (!inputs(2, 3) || !float_input(n, 0) || !float_input(n, 1)) return false;
      if (ni > 2 && n.in[2] >= 0 && !float_input(n, 2)) return false;
      return conv(n, out);
    case Op::kDFT:
      return inputs(1, 3) && float_input(n, 0) && dft(n, out);
    case Op::kWinogradConv:
      return inputs(3, 3) && float_input(n, 0) && float_input(n, 1) && float_input(n, 2) &&
             winograd(n, out);
  }
  return node_fail(n, "unknown op");
}

bool Builder::node(std::size_t index) {
  const Node& nd = m_.nodes[index];
  GraphNode n;
  n.node = &nd;
  n.index = static_cast<int>(index);
  if (!op_of(nd.domain, nd.op_type, &n.op))
    return node_fail(n, "op " + printable(nd.domain) + (nd.domain.empty() ? "" : "::") +
                            printable(nd.op_type) + " is not supported by the native engine");
  for (const std::string_view name : nd.inputs) {
    if (name.empty()) {
      n.in.push_back(-1);
      continue;
    }
    const auto it = g_.by_name.find(name);
    if (it == g_.by_name.end())
      return node_fail(n, "reads " + printable(name) +
                              (later_.count(name) ? " before it is computed"
                                                  : ", which the graph does not define"));
    n.in.push_back(it->second);
  }
  while (!n.in.empty() && n.in.back() < 0) n.in.pop_back();  // omitted trailing inputs
  if (nd.outputs.size() != 1 || nd.outputs[0].empty())
    return node_fail(n, "has " + std::to_string(nd.outputs.size()) + " outputs, the op writes one");
  const std::string_view name = nd.outputs[0];
  const auto it = g_.by_name.find(name);
  if (it != g_.by_name.end()) {
    const Value& v = g_.value(it->second);
    return node_fail(n, "writes " + printable(name) + ", which is already " +
                            (v.init       ? "an initializer"
                             : v.is_input ? "the graph input"
                                          : "computed by another node"));
  }
  std::vector<long long> shape;
  if (!infer(n, &shape)) return false;
  if (!check_size(name, shape, kFloat, true)) return false;
  for (const int id : n.in)
    if (id >= 0) g_.values[static_cast<std::size_t>(id)].consumers.push_back(n.index);
  n.out.push_back(add_value(name, std::move(shape), kFloat, n.index));
  g_.nodes.push_back(std::move(n));
  return true;
}

bool Builder::winograd_functions() {
  for (const Function& f : m_.functions) {
    if (f.domain != contract::kOpDomain || f.name != contract::kOpName) continue;
    auto differs = [&](const std::string& what) {
      return fail(std::string("function ") + contract::kOpDomain + "::" + contract::kOpName +
                  " computes something else than the op: " + what);
    };
    if (f.inputs.size() != 3 || f.outputs.size() != 1)
      return differs("it does not map X, W, B to Y");
    if (f.nodes.size() != 1) return differs("its body is not one Conv node");
    const Node& c = f.nodes[0];
    if (!is_default_domain(c.domain) || c.op_type != "Conv")
      return differs("its body is " + printable(c.op_type) + ", not Conv");
    if (c.inputs.size() != 3 || c.inputs[0] != f.inputs[0] || c.inputs[1] != f.inputs[1] ||
        c.inputs[2] != f.inputs[2] || c.outputs.size() != 1 || c.outputs[0] != f.outputs[0])
      return differs("its Conv does not read X, W, B into Y");
    // The body's rank (1 or 2 spatial dims) is its attributes' length: every one present agrees,
    // and every WinogradConv node of the model has that rank (export/SPEC.md: one rank, one
    // padding per model).
    std::vector<std::int64_t> pads;
    bool has_pads = false;
    std::size_t rank = 0;  // 0: no attribute says
    auto rank_is = [&rank](std::size_t r) {
      if (r != 1 && r != 2) return false;
      if (rank == 0) rank = r;
      return rank == r;
    };
    for (const Attribute& a : c.attributes) {
      if (!a.ref_attr_name.empty())
        return differs("Conv attribute " + printable(a.name) + " refers to an attribute");
      const bool ints = a.type == 7;
      auto all = [&a](std::int64_t v) {
        return std::all_of(a.ints.begin(), a.ints.end(), [v](std::int64_t e) { return e == v; });
      };
      if (a.name == "kernel_shape") {
        if (!ints || !rank_is(a.ints.size()) || !all(3)) return differs("kernel_shape");
      } else if (a.name == "strides" || a.name == "dilations") {
        if (!ints || !rank_is(a.ints.size()) || !all(1)) return differs(std::string(a.name));
      } else if (a.name == "group") {
        if (a.type != 2 || a.i != 1) return differs("group");
      } else if (a.name == "pads") {
        if (!ints || a.ints.size() % 2 != 0 || !rank_is(a.ints.size() / 2) || !all(a.ints[0]))
          return differs("pads");
        pads = a.ints;
        has_pads = true;
      } else {
        return differs("Conv attribute " + printable(a.name));
      }
    }
    const long long p = has_pads ? pads[0] : 0;
    for (const GraphNode& n : g_.nodes) {
      if (n.op != Op::kWinogradConv) continue;
      if (n.p.pads_begin[0] != p)
        return differs("pads " + std::to_string(p) + ", node " + n.label() + " has padding " +
                       std::to_string(n.p.pads_begin[0]));
      if (rank != 0 && n.p.kernel.size() != rank)
        return differs("a " + std::to_string(rank) + "-D Conv, node " + n.label() + " is " +
                       std::to_string(n.p.kernel.size()) + "-D");
    }
  }
  return true;
}

bool Builder::output() {
  const ValueInfo& o = m_.outputs[0];
  const auto it = g_.by_name.find(o.name);
  if (o.name.empty() || it == g_.by_name.end())
    return fail("the graph output " + printable(o.name) + " is not computed by the graph");
  g_.output = it->second;
  Value& v = g_.values[static_cast<std::size_t>(g_.output)];
  if (v.dtype != kFloat) return fail("the graph output " + printable(o.name) + " is not float32");
  if (count(v.shape) == 0) return fail("the graph output " + printable(o.name) + " is empty");
  v.is_output = true;
  if (o.has_shape) {
    bool same = o.dims.size() == v.shape.size();
    for (std::size_t i = 0; same && i < o.dims.size(); ++i)
      same = o.dims[i] < 0 || o.dims[i] == v.shape[i];
    if (!same) {
      std::vector<long long> declared(o.dims.begin(), o.dims.end());
      return fail("the graph output " + printable(o.name) + " is declared " +
                  shape_string(declared) + ", the graph computes " + shape_string(v.shape) +
                  " at batch " + std::to_string(g_.batch));
    }
  }
  return true;
}

bool Builder::run() {
  g_ = Graph{};
  if (m_.sparse_initializers) return fail("sparse initializers are not supported");
  for (const OpsetId& o : m_.opsets)
    if (is_default_domain(o.domain)) opset_ = o.version;
  for (const Node& nd : m_.nodes)
    for (const std::string_view o : nd.outputs) later_.insert(o);
  g_.values.reserve(m_.initializers.size() + m_.nodes.size() + 1);
  g_.nodes.reserve(m_.nodes.size());
  if (!functions() || !initializers() || !input_output()) return false;
  for (std::size_t i = 0; i < m_.nodes.size(); ++i)
    if (!node(i)) return false;
  return winograd_functions() && output();
}

}  // namespace

long long Value::elements() const { return count(shape); }

std::string printable(std::string_view s) {
  std::string out;
  for (const char c : s.substr(0, 64))
    out += static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F ? '?' : c;
  if (s.size() > 64) out += "...";
  return out;
}

std::string shape_string(const std::vector<long long>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string GraphNode::label() const {
  const std::string op = node ? printable(node->op_type) : "?";
  if (node && !node->name.empty()) return printable(node->name) + " (" + op + ")";
  return "#" + std::to_string(index) + " (" + op + ")";
}

int Graph::find(std::string_view name) const {
  const auto it = by_name.find(name);
  return it == by_name.end() ? -1 : it->second;
}

std::vector<float> Graph::floats(int id) const {
  std::vector<float> out;
  if (id < 0 || id >= static_cast<int>(values.size())) return out;
  const Value& v = value(id);
  if (!v.init || v.dtype != kFloat) return out;
  const long long n = v.elements();
  if (n < 0 || static_cast<std::size_t>(n) * 4 != v.init->data.size) return out;
  out.resize(static_cast<std::size_t>(n));
  if (n) std::memcpy(out.data(), v.init->data.data, v.init->data.size);
  return out;
}

bool Graph::ints(int id, std::vector<long long>* out) const {
  out->clear();
  if (id < 0 || id >= static_cast<int>(values.size())) return false;
  const Value& v = value(id);
  if (!v.init || v.dtype != kInt64) return false;
  const long long n = v.elements();
  if (n < 0) return false;
  if (v.init->data_field == 7) {
    long long got = 0;
    return varints(v.init->data, out, &got) && got == n;
  }
  if (static_cast<std::size_t>(n) * 8 != v.init->data.size) return false;
  for (long long i = 0; i < n; ++i) {
    std::uint64_t u = 0;
    for (int k = 0; k < 8; ++k)
      u |= static_cast<std::uint64_t>(v.init->data.data[i * 8 + k]) << (8 * k);
    out->push_back(static_cast<long long>(u));
  }
  return true;
}

bool Graph::scalar(int id, float* out) const {
  if (id < 0 || id >= static_cast<int>(values.size())) return false;
  const Value& v = value(id);
  if (!v.init || v.dtype != kFloat || v.elements() != 1 || v.init->data.size != 4) return false;
  std::memcpy(out, v.init->data.data, 4);
  return true;
}

int Graph::sole_consumer(int id) const {
  const Value& v = value(id);
  if (v.is_output || v.consumers.size() != 1) return -1;
  return v.consumers[0];
}

bool build_graph(const ModelFile& m, const GraphLimits& limits, Graph* out, std::string* error) {
  return Builder(m, limits, out, error).run();
}

namespace {

class Canon {
 public:
  void i64(long long v) {
    for (int k = 0; k < 8; ++k)
      b_.push_back(static_cast<char>(static_cast<std::uint64_t>(v) >> (8 * k)));
  }
  void str(std::string_view s) {
    i64(static_cast<long long>(s.size()));
    b_.append(s.data(), s.size());
  }
  void bits(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    i64(static_cast<long long>(u));
  }
  void infos(const std::vector<ValueInfo>& list) {
    i64(static_cast<long long>(list.size()));
    for (const ValueInfo& v : list) {
      str(v.name);
      i64(v.elem_type);
      i64(v.has_shape ? static_cast<long long>(v.dims.size()) : -1);
      if (v.has_shape)
        for (const std::int64_t d : v.dims) i64(d);
    }
  }
  void nodes(const std::vector<Node>& list) {
    i64(static_cast<long long>(list.size()));
    for (const Node& n : list) {
      str(n.op_type);
      str(n.domain);
      i64(static_cast<long long>(n.inputs.size()));
      for (const std::string_view s : n.inputs) str(s);
      i64(static_cast<long long>(n.outputs.size()));
      for (const std::string_view s : n.outputs) str(s);
      i64(static_cast<long long>(n.attributes.size()));
      for (const Attribute& a : n.attributes) {
        str(a.name);
        i64(a.type);
        switch (a.type) {
          case 1:
            bits(a.f);
            break;
          case 2:
            i64(a.i);
            break;
          case 3:
            str(a.s);
            break;
          case 6:
            i64(static_cast<long long>(a.floats.size()));
            for (const float f : a.floats) bits(f);
            break;
          case 7:
            i64(static_cast<long long>(a.ints.size()));
            for (const std::int64_t v : a.ints) i64(v);
            break;
          default:
            break;
        }
      }
    }
  }
  const std::string& bytes() const { return b_; }

 private:
  std::string b_;
};

}  // namespace

std::string structure_digest(const ModelFile& m) {
  Canon c;
  c.str("wno-structure-1");
  c.i64(static_cast<long long>(m.opsets.size()));
  for (const OpsetId& o : m.opsets) {
    c.str(o.domain);
    c.i64(o.version);
  }
  c.infos(m.inputs);
  c.infos(m.outputs);
  c.i64(static_cast<long long>(m.initializers.size()));
  for (const Tensor& t : m.initializers) {
    c.str(t.name);
    c.i64(t.data_type);
    c.i64(static_cast<long long>(t.dims.size()));
    for (const std::int64_t d : t.dims) c.i64(d);
  }
  c.nodes(m.nodes);
  c.i64(static_cast<long long>(m.functions.size()));
  for (const Function& f : m.functions) {
    c.str(f.domain);
    c.str(f.name);
    c.nodes(f.nodes);
  }
  const std::uint32_t crc = crc32(0, c.bytes().data(), c.bytes().size());
  char hex[9];
  for (int i = 0; i < 8; ++i) hex[i] = "0123456789abcdef"[(crc >> (28 - 4 * i)) & 0xF];
  hex[8] = '\0';
  return hex;
}

}  // namespace wno::engine
