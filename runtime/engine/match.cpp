// The patterns of wno_edge/onnx/export.py's graph (and the neuraloperator import's), matched
// forward from the graph input. Every pattern checks op type, domain, input positions, the
// attributes (only those the fused stage implements, with the values it implements), constants
// by value and every intermediate shape; an intermediate value must have no other consumer.
#include "match.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <string_view>

#include "wno/contract.h"

namespace wno::engine {
namespace {

using Shape = std::vector<long long>;

bool onnx_domain(std::string_view d) { return d.empty() || d == "ai.onnx"; }

constexpr float kSqrt2 = 1.41421356237309504880f;  // float(math.sqrt(2)), the exporter's constant

class Matcher {
 public:
  Matcher(const Graph& g, WnoMatch* m) : g_(g), m_(*m) {}
  bool run();
  std::string why;

 private:
  // ---- small predicates ----------------------------------------------------------------
  const GraphNode& node(int i) const { return g_.nodes[static_cast<std::size_t>(i)]; }
  std::string_view op(int i) const { return node(i).node->op_type; }
  const Shape& shape(int v) const { return g_.value(v).shape; }

  bool fail(int nd, const std::string& what) {
    if (why.empty()) why = (nd >= 0 ? "node " + node(nd).label() + ": " : std::string()) + what;
    return false;
  }
  // Node nd is `type` (ONNX domain), has `ins` inputs (all present) and one output.
  bool is(int nd, std::string_view type, std::size_t ins) const {
    const GraphNode& n = node(nd);
    if (op(nd) != type || !onnx_domain(n.node->domain) || n.in.size() != ins || n.out.size() != 1)
      return false;
    for (const int v : n.in)
      if (v < 0) return false;
    return true;
  }
  int out(int nd) const { return node(nd).out[0]; }
  // The one consumer of v that is `type` (ONNX domain) reading v as input `pos`; -1 if none or
  // several.
  int consumer(int v, std::string_view type, int pos = 0) const {
    int found = -1;
    for (const int c : g_.value(v).consumers) {
      const GraphNode& n = node(c);
      if (op(c) != type || static_cast<int>(n.in.size()) <= pos || n.in[pos] != v) continue;
      if (found >= 0 && found != c) return -1;
      found = c;
    }
    return found;
  }
  // The sole consumer of v if it is `type`, else -1.
  int next(int v, std::string_view type) const {
    const int c = g_.sole_consumer(v);
    return c >= 0 && op(c) == type ? c : -1;
  }
  // The input of binary node nd that is not v (either order); -1 if v is not an input.
  int other(int nd, int v) const {
    const GraphNode& n = node(nd);
    if (n.in.size() != 2) return -1;
    if (n.in[0] == v) return n.in[1];
    if (n.in[1] == v) return n.in[0];
    return -1;
  }
  bool float_init(int v, const Shape& want) const {
    if (v < 0) return false;  // an omitted optional input
    const Value& x = g_.value(v);
    return x.init && x.dtype == kFloat && x.shape == want;
  }
  bool scalar_is(int v, float want) const {
    float f = 0;
    return v >= 0 && g_.value(v).shape.empty() && g_.scalar(v, &f) &&
           std::memcmp(&f, &want, sizeof f) == 0;
  }
  bool ints_are(int v, const Shape& want) const {
    std::vector<long long> got;
    return v >= 0 && g_.ints(v, &got) && got == want;
  }
  // nd's attributes are all in `allowed`.
  bool attrs_within(int nd, std::initializer_list<std::string_view> allowed) const {
    for (const Attribute& a : node(nd).node->attributes) {
      bool ok = false;
      for (const std::string_view name : allowed) ok |= a.name == name;
      if (!ok) return false;
    }
    return true;
  }
  bool ints_attr(int nd, std::string_view name, const Shape& want) const {
    const Attribute* a = node(nd).node->find(name);
    if (!a) return true;  // absent: the default, which every caller's `want` is
    return std::vector<long long>(a->ints.begin(), a->ints.end()) == want;
  }

  // Shapes with the graph's spatial axes: (lead..., h, w) in 2-D, (lead..., w) on a line (h = 1).
  Shape img(std::initializer_list<long long> lead, long long h, long long w) const {
    Shape s(lead);
    if (m_.dims == 2) s.push_back(h);
    s.push_back(w);
    return s;
  }
  Shape ones(long long v = 1) const { return Shape(static_cast<std::size_t>(m_.dims), v); }
  Shape no_pads() const { return Shape(2 * static_cast<std::size_t>(m_.dims), 0); }

  // ---- patterns -----------------------------------------------------------------------
  // A pointwise Conv: x (N, cin, ...) -> (N, cout, ...), weight (cout, cin, 1, 1) (a line:
  // (cout, cin, 1)), bias (cout) if `bias`. Returns its output or -1.
  // With `pads`, the Conv may zero-pad its input (pads >= 0, returned; onnxsim folds a Pad so).
  int conv1x1(int x, int cout, int cin, bool bias, int* w, int* b, std::vector<int>* nodes,
              Shape* pads = nullptr) {
    for (const int nd : g_.value(x).consumers) {
      if (!is(nd, "Conv", bias ? 3 : 2) || node(nd).in[0] != x) continue;
      const Attribute* pa = node(nd).node->find("pads");
      const Shape p = pa ? Shape(pa->ints.begin(), pa->ints.end()) : no_pads();
      const bool padded = p != no_pads();
      if (!attrs_within(nd, {"kernel_shape", "pads", "strides", "dilations", "group"}) ||
          !ints_attr(nd, "kernel_shape", ones()) || p.size() != no_pads().size() ||
          (padded && !pads) || *std::min_element(p.begin(), p.end()) < 0 ||
          !ints_attr(nd, "strides", ones()) || !ints_attr(nd, "dilations", ones()))
        continue;
      if (pads) *pads = p;
      const Attribute* group = node(nd).node->find("group");
      if ((group && group->i != 1) || !float_init(node(nd).in[1], img({cout, cin}, 1, 1))) continue;
      if (bias && !float_init(node(nd).in[2], {cout})) continue;
      *w = node(nd).in[1];
      if (b) *b = bias ? node(nd).in[2] : -1;
      nodes->push_back(nd);
      return out(nd);
    }
    return -1;
  }

  // Exact GELU: Gelu (approximate "none"), or x * (erf(x / sqrt2) + 1) * 0.5 as torch writes it.
  int gelu(int x, std::vector<int>* nodes) {
    const int gn = consumer(x, "Gelu");
    if (gn >= 0) {
      const Attribute* ap = node(gn).node->find("approximate");
      if (!is(gn, "Gelu", 1) || !attrs_within(gn, {"approximate"}) || (ap && ap->s != "none"))
        return -1;
      if (shape(out(gn)) != shape(x)) return -1;
      nodes->push_back(gn);
      return out(gn);
    }
    const int twice = gelu_twice(x, nodes);
    if (twice < 0) return -1;
    const int half = next(twice, "Mul");
    if (half < 0 || !is(half, "Mul", 2) || !scalar_is(other(half, twice), 0.5f) ||
        shape(out(half)) != shape(x)) {
      nodes->resize(nodes->size() - 4);
      return -1;
    }
    nodes->push_back(half);
    return out(half);
  }

  // 2 gelu(x) = x * (erf(x / sqrt2) + 1): the exact GELU before its * 0.5.
  int gelu_twice(int x, std::vector<int>* nodes) {
    const int div = consumer(x, "Div");
    if (div < 0 || !is(div, "Div", 2) || !scalar_is(node(div).in[1], kSqrt2)) return -1;
    const int erf = next(out(div), "Erf");
    if (erf < 0 || !is(erf, "Erf", 1)) return -1;
    const int add = next(out(erf), "Add");
    if (add < 0 || !is(add, "Add", 2) || !scalar_is(other(add, out(erf)), 1.0f)) return -1;
    const int mul = next(out(add), "Mul");
    if (mul < 0 || !is(mul, "Mul", 2) || other(mul, out(add)) != x) return -1;
    for (const int nd : {div, erf, add, mul})
      if (shape(out(nd)) != shape(x)) return -1;
    nodes->insert(nodes->end(), {div, erf, add, mul});
    return out(mul);
  }

  // GELU, then a 1x1 Conv with bias (cin -> *cout; 0: whatever it has). The GELU's * 0.5 may be
  // folded into the Conv's weights (onnxsim does): the fused stage then computes the GELU and
  // doubles the weights, exactly (a power of two), so the weights must be this Conv's alone.
  int gelu_conv(int x, int cin, int* cout, int* w, int* b, std::vector<int>* nodes) {
    std::vector<int> got;
    int t = gelu(x, &got);
    const bool folded = t < 0;
    if (folded) t = gelu_twice(x, &got);
    if (t < 0) return -1;
    if (*cout == 0) *cout = conv_channels(t, 3);
    const int y = *cout > 0 ? conv1x1(t, *cout, cin, true, w, b, &got) : -1;
    if (y < 0 || (folded && g_.value(*w).consumers.size() != 1)) return -1;
    if (folded) m_.doubled.push_back(*w);
    nodes->insert(nodes->end(), got.begin(), got.end());
    return y;
  }

  // SiLU as the exporter writes it (PhysicsNeMo's decoder): x * Sigmoid(x).
  int silu(int x, std::vector<int>* nodes) {
    const int sg = consumer(x, "Sigmoid");
    if (sg < 0 || !is(sg, "Sigmoid", 1) || !attrs_within(sg, {})) return -1;
    const int mul = next(out(sg), "Mul");
    if (mul < 0 || !is(mul, "Mul", 2) || other(mul, out(sg)) != x) return -1;
    for (const int nd : {sg, mul})
      if (shape(out(nd)) != shape(x)) return -1;
    nodes->insert(nodes->end(), {sg, mul});
    return out(mul);
  }

  int normalise(int x, std::vector<int>* nodes);
  bool pad(int at, int* padded, std::vector<int>* nodes);
  int conv_channels(int x, std::size_t inputs) const;
  bool zero_outside_image(int cst, int add);
  bool lift(int* v);
  bool share_bases(const int bases[4], long long m2, long long k1);
  long long kept_rows(int mm0) const;
  int spectral(int v, LayerMatch* L, std::vector<int>* nodes);
  bool reads_spectrum(int v) const;
  int dft_step(int v, std::string_view type, const Shape& want, std::vector<int>* nodes,
               int nd = -1);
  int dft_node(int v, bool inverse, bool onesided, long long n, const Shape& want,
               std::vector<int>* nodes);
  int slice_step(int v, const Shape& starts, const Shape& want, std::vector<int>* nodes,
                 int nd = -1);
  int pad_step(int v, const Shape& begin, const Shape& end, const Shape& want,
               std::vector<int>* nodes);
  int corner_mix(int v, const Shape& modes, int* mixing, std::vector<int>* nodes);
  int dft_spectral(int v, LayerMatch* L, std::vector<int>* nodes);
  void synthesize_bases();
  bool layer(int* v, std::vector<int>* nodes);
  int channel_mlp(int t, int v_in, LayerMatch* L, std::vector<int>* nodes);
  bool project(int v);
  int layers_start();
  bool layer_fits(const LayerMatch& L);
  bool block_closed();
  void note();

  const Graph& g_;
  WnoMatch& m_;
};

// [Sub mean] [Div std]: the input normalisation. Returns the normalised value.
int Matcher::normalise(int x, std::vector<int>* nodes) {
  const Shape stat = img({1, m_.cin}, 1, 1);
  if (const int sub = consumer(x, "Sub"); sub >= 0 && is(sub, "Sub", 2)) {
    if (!float_init(node(sub).in[1], stat)) return fail(sub, "not the input normalisation"), -1;
    m_.in_mean = node(sub).in[1];
    nodes->push_back(sub);
    x = out(sub);
  }
  if (const int div = consumer(x, "Div"); div >= 0 && is(div, "Div", 2)) {
    if (!float_init(node(div).in[1], stat)) return fail(div, "not the input normalisation"), -1;
    m_.in_std = node(div).in[1];
    nodes->push_back(div);
    x = out(div);
  }
  return x;
}

// [Pad]: the domain padding [0, 0, top, left, 0, 0, bottom, right] (a line: [0, 0, left, 0, 0,
// right]) with zeros. *padded is its output, or `at` when there is none.
bool Matcher::pad(int at, int* padded, std::vector<int>* nodes) {
  const int p = consumer(at, "Pad");
  *padded = at;
  if (p < 0) return true;
  const GraphNode& n = node(p);
  const Attribute* mode = n.node->find("mode");
  std::vector<long long> pads;
  if (n.in.size() < 2 || n.in.size() > 3 || n.out.size() != 1 || !onnx_domain(n.node->domain) ||
      !attrs_within(p, {"mode"}) || (mode && mode->s != "constant") || !g_.ints(n.in[1], &pads) ||
      pads.size() != 4 + 2 * static_cast<std::size_t>(m_.dims) || pads[0] || pads[1] ||
      pads[2 + m_.dims] || pads[3 + m_.dims])
    return fail(p, "not the domain padding");
  if (n.in.size() == 3 && n.in[2] >= 0 && !scalar_is(n.in[2], 0.0f))
    return fail(p, "pads with a value other than zero");
  for (const long long q : pads)
    if (q < 0) return fail(p, "crops instead of padding");
  m_.top = m_.dims == 2 ? static_cast<int>(pads[2]) : 0;
  m_.left = static_cast<int>(pads[1 + m_.dims]);
  nodes->push_back(p);
  *padded = out(p);
  return true;
}

// Output channels of the 1x1 Conv reading x with `inputs` inputs (0 if none).
int Matcher::conv_channels(int x, std::size_t inputs) const {
  int channels = 0;
  for (const int c : g_.value(x).consumers)
    if (op(c) == "Conv" && node(c).in.size() == inputs && node(c).in[1] >= 0 &&
        shape(node(c).in[1]).size() == 2 + static_cast<std::size_t>(m_.dims))
      channels = static_cast<int>(shape(node(c).in[1])[0]);
  return channels;
}

// The lift writes zeros around the image: its constant must be zero there too.
bool Matcher::zero_outside_image(int cst, int add) {
  const std::vector<float> lc = g_.floats(cst);
  const Shape& cs = shape(cst);
  const long long channels = cs[1], hp = m_.dims == 2 ? cs[2] : 1, wp = cs.back();
  for (long long ch = 0; ch < channels; ++ch)
    for (long long i = 0; i < hp; ++i)
      for (long long j = 0; j < wp; ++j) {
        const bool inside = i >= m_.top && i < m_.top + m_.h && j >= m_.left && j < m_.left + m_.w;
        if (!inside && lc[static_cast<std::size_t>((ch * hp + i) * wp + j)] != 0.f)
          return fail(add, "the lift constant is not zero in the domain padding");
      }
  return true;
}

// [normalise] [Pad] Conv1x1 Add(constant) [GELU Conv1x1 [Pad]]
bool Matcher::lift(int* v) {
  std::vector<int> nodes;
  const Shape& in = shape(g_.input);
  if (in.size() != 4 && in.size() != 3)
    return fail(-1, "the input is not (N, C, H, W) or (N, C, W)");
  m_.dims = static_cast<int>(in.size()) - 2;
  m_.n = static_cast<int>(in[0]);
  m_.cin = static_cast<int>(in[1]);
  m_.h = m_.dims == 2 ? static_cast<int>(in[2]) : 1;
  m_.w = static_cast<int>(in.back());
  for (const int c : g_.value(g_.input).consumers)
    if (op(c) != "Sub" && op(c) != "Div" && op(c) != "Pad" && op(c) != "Conv")
      return fail(c, "reads the input, and no fusion pattern starts with it");
  const int x = normalise(g_.input, &nodes);
  int padded = x;
  if (x < 0 || !pad(x, &padded, &nodes)) return false;
  const int lw = conv_channels(padded, 2);
  Shape cpads;  // without a Pad node, the Conv may pad
  const int conv = lw > 0 ? conv1x1(padded, lw, m_.cin, false, &m_.lift_w, nullptr, &nodes,
                                    padded == x ? &cpads : nullptr)
                          : -1;
  if (conv < 0) return fail(-1, "the lifting Conv is not a bias-free 1x1 Conv of the input");
  const bool conv_pads = !cpads.empty() && cpads != no_pads();
  if (conv_pads) {  // begins (h, w) then ends
    m_.top = m_.dims == 2 ? static_cast<int>(cpads[0]) : 0;
    m_.left = static_cast<int>(cpads[static_cast<std::size_t>(m_.dims) - 1]);
  }
  const int add = g_.sole_consumer(conv);
  const int cst = add >= 0 && is(add, "Add", 2) ? other(add, conv) : -1;
  const Shape& cv = shape(conv);
  if (cst < 0 || !float_init(cst, img({1, lw}, m_.dims == 2 ? cv[2] : 1, cv.back())))
    return fail(add, "not the lift's bias and grid constant");
  m_.lift_c = cst;
  nodes.push_back(add);
  int y = out(add);
  const int mlp = gelu_conv(y, lw, &m_.c, &m_.lift2_w, &m_.lift2_b, &nodes);
  if (mlp >= 0) {  // neuraloperator's lifting MLP, then the padding
    if (padded != x || conv_pads) return fail(-1, "a lifting MLP on a padded input");
    y = mlp;
    m_.lw = lw;
    if (!pad(y, &y, &nodes)) return false;
  } else {
    m_.c = lw;
    if (!zero_outside_image(cst, add)) return false;
  }
  const Shape& vs = shape(y);
  if (vs.size() != 2 + static_cast<std::size_t>(m_.dims) || vs[0] != m_.n || vs[1] != m_.c ||
      (m_.dims == 2 && vs[2] < m_.h) || vs.back() < m_.w)
    return fail(-1, "the lifted field has an unexpected shape");
  m_.hp = m_.dims == 2 ? static_cast<int>(vs[2]) : 1;
  m_.wp = static_cast<int>(vs.back());
  m_.stages.push_back({"normalize+lift", nodes});
  *v = y;
  return true;
}

// The truncated DFT, per-mode complex mixing and inverse DFT of wno_edge/onnx/spectral.py.
// One node of the spectral chain: op, Transpose perm, which MatMul operand the chain's value is
// (0 left, 1 right), the other operand's (initializer) shape, the output shape.
struct SpectralStep {
  const char* op;
  Shape perm;
  int operand;
  Shape constant;
  Shape out;
};

// wno_edge/onnx/spectral.py's chain on (N, C, Hp, Wp) with m2 kept columns and K1 kept rows.
std::vector<SpectralStep> spectral_steps(long long N, long long C, long long Hp, long long Wp,
                                         long long M2, long long K1) {
  const long long Q = K1 * M2;
  return {
      {"MatMul", {}, 0, {Wp, 2 * M2}, {N, C, Hp, 2 * M2}},
      {"Reshape", {}, 0, {}, {N, C, Hp, 2, M2}},
      {"Transpose", {0, 1, 3, 2, 4}, 0, {}, {N, C, 2, Hp, M2}},
      {"Reshape", {}, 0, {}, {N, C, 2 * Hp, M2}},
      {"MatMul", {}, 1, {2 * K1, 2 * Hp}, {N, C, 2 * K1, M2}},
      {"Reshape", {}, 0, {}, {N, C, 2, Q}},
      {"Transpose", {3, 0, 2, 1}, 0, {}, {Q, N, 2, C}},
      {"MatMul", {}, 0, {Q, 1, C, 2 * C}, {Q, N, 2, 2 * C}},
      {"Reshape", {}, 0, {}, {Q, N, 4, C}},
      {"Transpose", {0, 1, 3, 2}, 0, {}, {Q, N, C, 4}},
      {"MatMul", {}, 0, {4, 2}, {Q, N, C, 2}},
      {"Transpose", {1, 2, 3, 0}, 0, {}, {N, C, 2, Q}},
      {"Reshape", {}, 0, {}, {N, C, 2 * K1, M2}},
      {"MatMul", {}, 1, {2 * Hp, 2 * K1}, {N, C, 2 * Hp, M2}},
      {"Reshape", {}, 0, {}, {N, C, 2, Hp, M2}},
      {"Transpose", {0, 1, 3, 2, 4}, 0, {}, {N, C, Hp, 2, M2}},
      {"Reshape", {}, 0, {}, {N, C, Hp, 2 * M2}},
      {"MatMul", {}, 0, {2 * M2, Wp}, {N, C, Hp, Wp}},
  };
}

// The same on a line (N, C, Wp): no H transform, so the modes are the m2 kept columns.
std::vector<SpectralStep> line_spectral_steps(long long N, long long C, long long Wp,
                                              long long M2) {
  return {
      {"MatMul", {}, 0, {Wp, 2 * M2}, {N, C, 2 * M2}},
      {"Reshape", {}, 0, {}, {N, C, 2, M2}},
      {"Transpose", {3, 0, 2, 1}, 0, {}, {M2, N, 2, C}},
      {"MatMul", {}, 0, {M2, 1, C, 2 * C}, {M2, N, 2, 2 * C}},
      {"Reshape", {}, 0, {}, {M2, N, 4, C}},
      {"Transpose", {0, 1, 3, 2}, 0, {}, {M2, N, C, 4}},
      {"MatMul", {}, 0, {4, 2}, {M2, N, C, 2}},
      {"Transpose", {1, 2, 3, 0}, 0, {}, {N, C, 2, M2}},
      {"Reshape", {}, 0, {}, {N, C, 2 * M2}},
      {"MatMul", {}, 0, {2 * M2, Wp}, {N, C, Wp}},
  };
}

// Where the chains keep their constants: the four bases (fwd_w, fwd_h, inv_h, inv_w; -1: none),
// the mixing and the complex combination, as step indices.
struct ChainConstants {
  int bases[4], mixing, combine;
};
constexpr ChainConstants kPlaneConstants{{0, 4, 13, 17}, 7, 10};
constexpr ChainConstants kLineConstants{{0, -1, -1, 9}, 3, 6};

// K1 from the fwd_h operand of the chain's second MatMul (three nodes after the first), or -1.
long long Matcher::kept_rows(int mm0) const {
  int x = out(mm0);
  for (int k = 0; k < 4; ++k) {
    const int c = g_.sole_consumer(x);
    if (c < 0) return -1;
    if (k == 3) {
      if (op(c) != "MatMul" || node(c).in.size() != 2 || node(c).in[0] < 0) return -1;
      const Shape& fh = shape(node(c).in[0]);
      return fh.size() == 2 && fh[0] % 2 == 0 && fh[1] == 2LL * m_.hp ? fh[0] / 2 : -1;
    }
    x = out(c);
  }
  return -1;
}

int Matcher::spectral(int v, LayerMatch* L, std::vector<int>* nodes) {
  const int mm0 = consumer(v, "MatMul");
  if (mm0 < 0) return dft_spectral(v, L, nodes);
  if (!is(mm0, "MatMul", 2)) return -1;
  const Shape& fw = shape(node(mm0).in[1]);
  if (fw.size() != 2 || fw[0] != m_.wp || fw[1] % 2) return -1;
  const long long M2 = fw[1] / 2, K1 = m_.dims == 2 ? kept_rows(mm0) : 1;
  if (K1 < 0) return -1;
  const std::vector<SpectralStep> steps = m_.dims == 2
                                              ? spectral_steps(m_.n, m_.c, m_.hp, m_.wp, M2, K1)
                                              : line_spectral_steps(m_.n, m_.c, m_.wp, M2);
  const ChainConstants& at = m_.dims == 2 ? kPlaneConstants : kLineConstants;
  int node_id = mm0, value = v;
  int inits[18] = {};
  for (std::size_t k = 0; k < steps.size(); ++k) {
    const SpectralStep& s = steps[k];
    if (k > 0) {
      node_id = g_.sole_consumer(value);
      if (node_id < 0) return -1;
    }
    const GraphNode& n = node(node_id);
    const bool matmul = std::string_view(s.op) == "MatMul";
    const bool reshape = std::string_view(s.op) == "Reshape";
    if (!is(node_id, s.op, matmul || reshape ? 2 : 1)) return -1;
    if (matmul) {
      if (n.in[s.operand] != value || !float_init(n.in[1 - s.operand], s.constant)) return -1;
      inits[k] = n.in[1 - s.operand];
    } else if (reshape) {
      const Attribute* az = n.node->find("allowzero");
      if (n.in[0] != value || !attrs_within(node_id, {"allowzero"}) || (az && az->i != 0))
        return -1;
    } else {
      const Attribute* perm = n.node->find("perm");
      if (n.in[0] != value || !attrs_within(node_id, {"perm"}) || !perm ||
          Shape(perm->ints.begin(), perm->ints.end()) != s.perm)
        return -1;
    }
    if (shape(out(node_id)) != s.out) return -1;
    nodes->push_back(node_id);
    value = out(node_id);
  }
  // [Xr Wr, Xr Wi, Xi Wr, Xi Wi] @ combine must be the complex product the stage computes
  const std::vector<float> combine = g_.floats(inits[at.combine]);
  if (std::memcmp(combine.data(), contract::kCombineComplex, sizeof contract::kCombineComplex))
    return -1;
  int bases[4];
  for (int b = 0; b < 4; ++b) bases[b] = at.bases[b] < 0 ? -1 : inits[at.bases[b]];
  if (!share_bases(bases, M2, K1)) return -1;
  L->mixing = inits[at.mixing];
  return value;
}

// One set of DFT bases serves every layer: the first layer's, or equal values.
bool Matcher::share_bases(const int bases[4], long long m2, long long k1) {
  if (m_.dft_nodes) return false;  // one form per block: its bases are synthesized
  int* mine[4] = {&m_.fwd_w, &m_.fwd_h, &m_.inv_h, &m_.inv_w};
  for (int b = 0; b < 4; ++b) {
    if (bases[b] < 0) continue;  // a line has no H bases
    if (*mine[b] >= 0 && *mine[b] != bases[b]) {
      if (g_.floats(*mine[b]) != g_.floats(bases[b])) return false;
    } else {
      *mine[b] = bases[b];
    }
  }
  if (m_.m2 && (m_.m2 != m2 || m_.k1 != k1)) return false;
  m_.m2 = static_cast<int>(m2);
  m_.k1 = static_cast<int>(k1);
  return true;
}

// ---- the spectral branch written with ONNX DFT nodes (wno_edge/onnx/spectral_dft.py) ----------
// Every DFT runs along axis 1 of a Reshape of the (N, C, ...) field: rfft along W, the m2 lowest
// bins sliced, a DFT along H; per corner of kept rows a Slice, the complex mixing and a Pad back
// to Hp rows; the corners added, the inverse DFT along H, the bins padded to Wp, the inverse DFT
// along W and its real part. The fused stage computes the same with the MatMul form's GEMMs:
// only the kept modes, never the full spectra the nodes describe.

// A layer's input that a spectral branch reads: a MatMul (the MatMul form) or a Reshape into a DFT.
bool Matcher::reads_spectrum(int v) const {
  if (consumer(v, "MatMul") >= 0) return true;
  const int r = consumer(v, "Reshape");
  return r >= 0 && next(out(r), "DFT") >= 0;
}

// Node nd (default: the sole consumer of v) is `type` (ONNX domain) reading v first and writing
// `want`; a Reshape has its shape input and allowzero 0. Appends it; its output or -1.
int Matcher::dft_step(int v, std::string_view type, const Shape& want, std::vector<int>* nodes,
                      int nd) {
  if (v < 0) return -1;
  if (nd < 0) nd = g_.sole_consumer(v);
  if (nd < 0 || op(nd) != type || !onnx_domain(node(nd).node->domain)) return -1;
  const GraphNode& n = node(nd);
  if (n.in.empty() || n.in[0] != v || n.out.size() != 1 || shape(out(nd)) != want) return -1;
  if (type == "Reshape") {
    const Attribute* az = n.node->find("allowzero");
    if (n.in.size() != 2 || !attrs_within(nd, {"allowzero"}) || (az && az->i != 0)) return -1;
  }
  nodes->push_back(nd);
  return out(nd);
}

// A DFT along axis 1 of length n (build_graph resolved the axis, its length and the options).
int Matcher::dft_node(int v, bool inverse, bool onesided, long long n, const Shape& want,
                      std::vector<int>* nodes) {
  const int nd = v >= 0 ? g_.sole_consumer(v) : -1;
  if (nd < 0 || op(nd) != "DFT") return -1;
  const NodeParams& p = node(nd).p;
  if (p.dft_axis != 1 || p.dft_inverse != inverse || p.dft_onesided != onesided ||
      p.dft_length != n || shape(v)[1] != n)  // no dft_length padding or truncation
    return -1;
  return dft_step(v, "DFT", want, nodes, nd);
}

// A Slice from `starts` with steps of 1 (build_graph resolved them per axis) to `want`.
int Matcher::slice_step(int v, const Shape& starts, const Shape& want, std::vector<int>* nodes,
                        int nd) {
  if (v < 0) return -1;
  if (nd < 0) nd = g_.sole_consumer(v);
  if (nd < 0 || op(nd) != "Slice" || node(nd).p.starts != starts) return -1;
  const Shape& steps = node(nd).p.steps;
  if (!std::all_of(steps.begin(), steps.end(), [](long long s) { return s == 1; })) return -1;
  return dft_step(v, "Slice", want, nodes, nd);
}

// A Pad with zeros, `begin` and `end` per axis.
int Matcher::pad_step(int v, const Shape& begin, const Shape& end, const Shape& want,
                      std::vector<int>* nodes) {
  const int nd = v >= 0 ? g_.sole_consumer(v) : -1;
  if (nd < 0 || op(nd) != "Pad") return -1;
  const NodeParams& p = node(nd).p;
  if (p.begin != begin || p.end != end || p.value != 0.0f) return -1;
  return dft_step(v, "Pad", want, nodes, nd);
}

// (N, C, *modes, 2) -> (N, C, *modes, 2): the complex mixing on [re, im] (*mixing: its weights).
int Matcher::corner_mix(int v, const Shape& modes, int* mixing, std::vector<int>* nodes) {
  const long long N = m_.n, C = m_.c;
  const bool plane = modes.size() == 2;
  auto shaped = [&](std::initializer_list<long long> tail) {
    Shape s = modes;
    s.insert(s.end(), tail);
    return s;
  };
  const int t0 = g_.sole_consumer(v);
  if (t0 < 0 || op(t0) != "Transpose" ||
      node(t0).p.perm != (plane ? Shape{2, 3, 0, 4, 1} : Shape{2, 0, 3, 1}))
    return -1;
  int x = dft_step(v, "Transpose", shaped({N, 2, C}), nodes, t0);
  const int mm = x >= 0 ? g_.sole_consumer(x) : -1;
  if (mm < 0 || !is(mm, "MatMul", 2) || node(mm).in[0] != x ||
      !float_init(node(mm).in[1], shaped({1, C, 2 * C})))
    return -1;
  *mixing = node(mm).in[1];
  x = dft_step(x, "MatMul", shaped({N, 2, 2 * C}), nodes, mm);
  x = dft_step(x, "Reshape", shaped({N, 4, C}), nodes);
  const int t1 = x >= 0 ? g_.sole_consumer(x) : -1;
  if (t1 < 0 || op(t1) != "Transpose" ||
      node(t1).p.perm != (plane ? Shape{0, 1, 2, 4, 3} : Shape{0, 1, 3, 2}))
    return -1;
  x = dft_step(x, "Transpose", shaped({N, C, 4}), nodes, t1);
  const int cm = x >= 0 ? g_.sole_consumer(x) : -1;
  if (cm < 0 || !is(cm, "MatMul", 2) || node(cm).in[0] != x || !float_init(node(cm).in[1], {4, 2}))
    return -1;
  const std::vector<float> combine = g_.floats(node(cm).in[1]);
  if (std::memcmp(combine.data(), contract::kCombineComplex, sizeof contract::kCombineComplex))
    return -1;
  x = dft_step(x, "MatMul", shaped({N, C, 2}), nodes, cm);
  const int t2 = x >= 0 ? g_.sole_consumer(x) : -1;
  if (t2 < 0 || op(t2) != "Transpose" ||
      node(t2).p.perm != (plane ? Shape{2, 3, 0, 1, 4} : Shape{1, 2, 0, 3}))
    return -1;
  Shape back{N, C};
  back.insert(back.end(), modes.begin(), modes.end());
  back.push_back(2);
  return dft_step(x, "Transpose", back, nodes, t2);
}

int Matcher::dft_spectral(int v, LayerMatch* L, std::vector<int>* nodes) {
  const long long N = m_.n, C = m_.c, Hp = m_.hp, Wp = m_.wp, lines = N * C * Hp;
  const bool plane = m_.dims == 2;
  std::vector<int> got;
  int x = dft_step(v, "Reshape", {lines, Wp, 1}, &got, consumer(v, "Reshape"));
  x = dft_node(x, false, true, Wp, {lines, Wp / 2 + 1, 2}, &got);
  const int bins = x >= 0 ? g_.sole_consumer(x) : -1;
  if (bins < 0 || shape(out(bins)).size() != 3) return -1;
  const long long M2 = shape(out(bins))[1];
  x = slice_step(x, {0, 0, 0}, {lines, M2, 2}, &got, bins);
  std::vector<float> mixing;
  long long K1 = 1;  // kept rows (a line: its one row)
  if (plane) {
    x = dft_step(x, "Reshape", {N * C, Hp, M2, 2}, &got);
    x = dft_node(x, false, false, Hp, {N * C, Hp, M2, 2}, &got);
    x = dft_step(x, "Reshape", {N, C, Hp, M2, 2}, &got);
    // two Slices read the spectrum: the rows [0, m1) and [Hp - m1, Hp), each mixed and padded
    const std::vector<int> reads = x >= 0 ? g_.value(x).consumers : std::vector<int>{};
    if (reads.size() != 2 || g_.value(x).is_output || shape(out(reads[0])).size() != 5) return -1;
    const long long M1 = shape(out(reads[0]))[2];
    if (M1 < 1 || 2 * M1 > Hp) return -1;
    int placed[2] = {-1, -1};
    for (int k = 0; k < 2; ++k) {
      const long long lo = k ? Hp - M1 : 0;
      const Shape starts{0, 0, lo, 0, 0};
      int sl = -1;
      for (const int c : reads)
        if (op(c) == "Slice" && node(c).p.starts == starts) sl = c;
      int c = slice_step(x, starts, {N, C, M1, M2, 2}, &got, sl);
      int init = -1;
      c = c >= 0 ? corner_mix(c, {M1, M2}, &init, &got) : -1;
      placed[k] =
          pad_step(c, {0, 0, lo, 0, 0}, {0, 0, Hp - lo - M1, 0, 0}, {N, C, Hp, M2, 2}, &got);
      if (placed[k] < 0) return -1;
      const std::vector<float> w = g_.floats(init);  // low rows first, as the MatMul form's
      mixing.insert(mixing.end(), w.begin(), w.end());
    }
    const int add = g_.sole_consumer(placed[0]);
    if (add < 0 || !is(add, "Add", 2) || other(add, placed[0]) != placed[1] ||
        g_.sole_consumer(placed[1]) != add || shape(out(add)) != Shape{N, C, Hp, M2, 2})
      return -1;
    got.push_back(add);
    x = dft_step(out(add), "Reshape", {N * C, Hp, M2, 2}, &got);
    x = dft_node(x, true, false, Hp, {N * C, Hp, M2, 2}, &got);
    K1 = 2 * M1;
  } else {
    x = dft_step(x, "Reshape", {N, C, M2, 2}, &got);
    int init = -1;
    x = x >= 0 ? corner_mix(x, {M2}, &init, &got) : -1;
    if (x >= 0) mixing = g_.floats(init);
  }
  x = dft_step(x, "Reshape", {lines, M2, 2}, &got);
  x = pad_step(x, {0, 0, 0}, {0, Wp - M2, 0}, {lines, Wp, 2}, &got);
  if (const int r = x >= 0 ? g_.sole_consumer(x) : -1; r >= 0 && op(r) == "Reshape")
    x = dft_step(x, "Reshape", {lines, Wp, 2}, &got, r);  // the view before the DFT (a no-op)
  x = dft_node(x, true, false, Wp, {lines, Wp, 2}, &got);
  x = slice_step(x, {0, 0, 0}, {lines, Wp, 1}, &got);
  x = dft_step(x, "Reshape", img({N, C}, Hp, Wp), &got);
  if (x < 0 || m_.fwd_w >= 0) return -1;  // one form per block
  if (m_.dft_nodes && (m_.m2 != M2 || m_.k1 != K1)) return -1;
  if (!m_.dft_nodes) {
    m_.m2 = static_cast<int>(M2);
    m_.k1 = static_cast<int>(K1);
    synthesize_bases();
  }
  m_.dft_nodes = true;
  L->mixing = -1;
  L->mixing_data = std::move(mixing);
  nodes->insert(nodes->end(), got.begin(), got.end());
  return x;
}

// The MatMul form's bases for (Hp, Wp, m2, K1), 'ortho' scaled (wno_edge/onnx/spectral.py), in
// float64 rounded once; the irfft's bin weights (1, 2, ..., 2, [1]) are in the DFT form's mixing,
// so inv_w weighs every bin once.
void Matcher::synthesize_bases() {
  const long long Hp = m_.hp, Wp = m_.wp, M2 = m_.m2, K1 = m_.k1;
  auto angle = [](long long a, long long b, long long n) {
    return 2.0 * M_PI * static_cast<double>(a * b % n) / static_cast<double>(n);
  };
  const double sw = std::sqrt(static_cast<double>(Wp)), sh = std::sqrt(static_cast<double>(Hp));
  std::vector<float>& fwd_w = m_.bases[0];
  std::vector<float>& inv_w = m_.bases[3];
  fwd_w.assign(static_cast<std::size_t>(Wp * 2 * M2), 0.0f);
  inv_w.assign(static_cast<std::size_t>(2 * M2 * Wp), 0.0f);
  for (long long w = 0; w < Wp; ++w)
    for (long long q = 0; q < M2; ++q) {
      const double a = angle(w, q, Wp), c = std::cos(a) / sw, s = -std::sin(a) / sw;
      fwd_w[static_cast<std::size_t>(w * 2 * M2 + q)] = static_cast<float>(c);
      fwd_w[static_cast<std::size_t>(w * 2 * M2 + M2 + q)] = static_cast<float>(s);
      inv_w[static_cast<std::size_t>(q * Wp + w)] = static_cast<float>(c);
      inv_w[static_cast<std::size_t>((M2 + q) * Wp + w)] = static_cast<float>(s);
    }
  if (m_.dims != 2) return;
  std::vector<float>& fwd_h = m_.bases[1];
  std::vector<float>& inv_h = m_.bases[2];
  fwd_h.assign(static_cast<std::size_t>(2 * K1 * 2 * Hp), 0.0f);
  inv_h.assign(static_cast<std::size_t>(2 * Hp * 2 * K1), 0.0f);
  const long long M1 = K1 / 2;
  for (long long k = 0; k < K1; ++k) {
    const long long row = k < M1 ? k : Hp - K1 + k;  // 0..m1-1, then Hp-m1..Hp-1
    for (long long h = 0; h < Hp; ++h) {
      const double a = angle(row, h, Hp);
      const float c = static_cast<float>(std::cos(a) / sh),
                  s = static_cast<float>(std::sin(a) / sh);
      auto fh = [&](long long i, long long j) -> float& {
        return fwd_h[static_cast<std::size_t>(i * 2 * Hp + j)];
      };
      auto ih = [&](long long i, long long j) -> float& {
        return inv_h[static_cast<std::size_t>(i * 2 * K1 + j)];
      };
      fh(k, h) = c;  // [[c, s], [-s, c]]: (c - i s)(A_re + i A_im)
      fh(k, Hp + h) = s;
      fh(K1 + k, h) = -s;
      fh(K1 + k, Hp + h) = c;
      ih(h, k) = c;  // [[c^T, -s^T], [s^T, c^T]]: (c + i s)(O_re + i O_im)
      ih(h, K1 + k) = -s;
      ih(Hp + h, k) = s;
      ih(Hp + h, K1 + k) = c;
    }
  }
}

// mlp2(gelu(mlp1(t))) [+ skip(v_in)]: neuraloperator's channel MLP.
int Matcher::channel_mlp(int t, int v_in, LayerMatch* layer, std::vector<int>* nodes) {
  const long long C = m_.c;
  LayerMatch mine = *layer, *L = &mine;  // committed only when the whole pattern matches
  const std::size_t doubled = m_.doubled.size();
  std::vector<int> got;
  const int hidden = conv_channels(t, 3);
  if (hidden <= 0) return -1;
  int y = conv1x1(t, hidden, static_cast<int>(C), true, &L->mlp1_w, &L->mlp1_b, &got);
  int c = static_cast<int>(C);
  if (y >= 0) y = gelu_conv(y, hidden, &c, &L->mlp2_w, &L->mlp2_b, &got);
  if (y < 0) {
    m_.doubled.resize(doubled);
    return -1;
  }
  const int add = g_.sole_consumer(y);
  if (add >= 0 && is(add, "Add", 2)) {
    const int s = other(add, y);
    const int sn = s >= 0 ? g_.value(s).producer : -1;
    if (sn >= 0 && op(sn) == "Conv" && node(sn).in.size() == 2 && node(sn).in[0] == v_in) {
      std::vector<int> skip;
      if (conv1x1(v_in, static_cast<int>(C), static_cast<int>(C), false, &L->skip, nullptr,
                  &skip) != s) {
        m_.doubled.resize(doubled);
        return -1;
      }
      got.insert(got.end(), skip.begin(), skip.end());
      got.push_back(add);
      y = out(add);
    }
  }
  if (m_.cmw && m_.cmw != hidden) {
    m_.doubled.resize(doubled);
    return -1;
  }
  m_.cmw = hidden;
  *layer = mine;
  nodes->insert(nodes->end(), got.begin(), got.end());
  return y;
}

// One layer: real-space conv + spectral branch, their sum, then the block's tail:
//   WNO block: [GELU]; neuraloperator: [GELU, [channel MLP,] GELU] or, last, [channel MLP].
bool Matcher::layer(int* v, std::vector<int>* nodes) {
  LayerMatch L;
  const long long C = m_.c;
  const int s = spectral(*v, &L, nodes);
  if (s < 0) return false;
  const int add = g_.sole_consumer(s);
  const int r = add >= 0 && is(add, "Add", 2) ? other(add, s) : -1;
  const int rn = r >= 0 ? g_.value(r).producer : -1;
  if (rn < 0 || node(rn).in.empty() || node(rn).in[0] != *v || g_.sole_consumer(r) != add)
    return fail(add, "the spectral branch is not added to the layer's convolution");
  const GraphNode& rc = node(rn);
  if (op(rn) == contract::kOpName && rc.node->domain == contract::kOpDomain) {
    const Attribute* tile = rc.node->find("tile");
    const Attribute* padding = rc.node->find("padding");
    if (rc.in.size() != 3 || rc.out.size() != 1 || rc.in[1] < 0 || rc.in[2] < 0 || !tile ||
        !contract::valid_tile(static_cast<int>(tile->i)) || !padding || padding->i != 1 ||
        !float_init(rc.in[1], img({C, C}, 3, 3)) || !float_init(rc.in[2], {C}))
      return fail(rn, "a WinogradConv this stage does not implement");
    L.kind = RealSpace::kWinograd;
    L.tile = static_cast<int>(tile->i);
  } else if (is(rn, "Conv", 3) && float_init(rc.in[1], img({C, C}, 3, 3))) {
    const Attribute* group = rc.node->find("group");
    if (!attrs_within(rn, {"kernel_shape", "pads", "strides", "dilations", "group"}) ||
        !ints_attr(rn, "kernel_shape", ones(3)) || !rc.node->find("pads") ||
        !ints_attr(rn, "pads", Shape(2 * static_cast<std::size_t>(m_.dims), 1)) ||
        !ints_attr(rn, "strides", ones()) || !ints_attr(rn, "dilations", ones()) ||
        (group && group->i != 1) || !float_init(rc.in[2], {C}))
      return fail(rn, "a 3x3 Conv this stage does not implement");
    L.kind = RealSpace::kDirect3x3;
  } else {
    std::vector<int> one;
    int w = -1, b = -1;
    if (conv1x1(*v, static_cast<int>(C), static_cast<int>(C), true, &w, &b, &one) != r)
      return fail(rn, "the layer's convolution is neither WinogradConv nor a 3x3 or 1x1 Conv");
    L.kind = RealSpace::kPointwise;
  }
  L.weight = rc.in[1];
  L.bias = rc.in[2];
  nodes->push_back(rn);
  nodes->push_back(add);
  // the tail
  int t = out(add);
  std::vector<int> tail;
  int g0 = gelu(t, &tail);
  if (g0 >= 0) t = g0;
  int mlp = channel_mlp(t, *v, &L, &tail);
  if (g0 < 0 && mlp < 0) {  // the GELU's * 0.5 folded into the channel MLP's first Conv
    const LayerMatch plain = L;
    const std::size_t doubled = m_.doubled.size();
    const int cmw = m_.cmw;
    std::vector<int> folded;
    const int twice = gelu_twice(t, &folded);
    mlp = twice >= 0 ? channel_mlp(twice, *v, &L, &folded) : -1;
    if (mlp >= 0 && g_.value(L.mlp1_w).consumers.size() == 1) {
      m_.doubled.push_back(L.mlp1_w);
      g0 = twice;
      tail.insert(tail.end(), folded.begin(), folded.end());
    } else {
      mlp = -1;
      L = plain;
      m_.doubled.resize(doubled);
      m_.cmw = cmw;
    }
  }
  if (mlp >= 0) t = mlp;
  const int g1 = g0 >= 0 ? gelu(t, &tail) : -1;
  if (g1 >= 0) t = g1;
  const bool neuralop = mlp >= 0 || g1 >= 0;
  if (mlp >= 0 && g0 >= 0 && g1 < 0)
    return fail(add, "the layer's activations are not a WNO or neuraloperator block");
  L.gelu = g0 >= 0;
  L.gelu_out = g1 >= 0;
  if (neuralop) m_.neuralop = true;
  if (mlp >= 0 && L.skip >= 0) m_.skip = true;
  nodes->insert(nodes->end(), tail.begin(), tail.end());
  m_.layers.push_back(L);
  *v = t;
  return true;
}

// [Slice crop] Conv1x1 GELU Conv1x1 [Mul std] [Add mean] -> the graph output. Without a fused
// lift the crop says where the image is.
bool Matcher::project(int v) {
  std::vector<int> nodes;
  const int sl = consumer(v, "Slice");
  if (sl >= 0) {
    const GraphNode& n = node(sl);
    std::vector<long long> starts, ends;
    if (n.in.size() < 4 || n.in.size() > 5 || n.out.size() != 1 || !attrs_within(sl, {}) ||
        !g_.ints(n.in[1], &starts) || !g_.ints(n.in[2], &ends) ||
        !ints_are(n.in[3], m_.dims == 2 ? Shape{2, 3} : Shape{2}) ||
        (n.in.size() == 5 && n.in[4] >= 0 && !ints_are(n.in[4], ones())))
      return fail(sl, "not the crop of the domain padding");
    if (m_.dims == 1 && starts.size() == 1 && ends.size() == 1) {  // as (h, w) with h [0, 1)
      starts.insert(starts.begin(), 0);
      ends.insert(ends.begin(), 1);
    }
    if (starts.size() != 2 || ends.size() != 2 || starts[0] < 0 || starts[1] < 0 ||
        ends[0] <= starts[0] || ends[1] <= starts[1] || ends[0] > m_.hp || ends[1] > m_.wp)
      return fail(sl, "not the crop of the domain padding");
    if (!m_.lift) {
      m_.top = static_cast<int>(starts[0]);
      m_.left = static_cast<int>(starts[1]);
      m_.h = static_cast<int>(ends[0] - starts[0]);
      m_.w = static_cast<int>(ends[1] - starts[1]);
    }
    if (starts != Shape{m_.top, m_.left} || ends != Shape{m_.top + m_.h, m_.left + m_.w})
      return fail(sl, "crops other than the lift's domain padding");
    nodes.push_back(sl);
    v = out(sl);
  } else if (!m_.lift) {
    m_.h = m_.hp;
    m_.w = m_.wp;
  }
  if (shape(v) != img({m_.n, m_.c}, m_.h, m_.w)) return fail(-1, "the cropped field's shape");
  const int proj = conv_channels(v, 3);
  int y = proj > 0 ? conv1x1(v, proj, m_.c, true, &m_.p1_w, &m_.p1_b, &nodes) : -1;
  m_.proj = proj;
  std::vector<int> act;
  const int s = y >= 0 ? silu(y, &act) : -1;
  if (s >= 0) {  // SiLU, then the output Conv
    m_.proj_act = kSilu;
    if (m_.cout == 0) m_.cout = conv_channels(s, 3);
    y = m_.cout > 0 ? conv1x1(s, m_.cout, proj, true, &m_.p2_w, &m_.p2_b, &act) : -1;
    if (y >= 0) nodes.insert(nodes.end(), act.begin(), act.end());
  } else if (y >= 0) {
    y = gelu_conv(y, proj, &m_.cout, &m_.p2_w, &m_.p2_b, &nodes);
  }
  if (y < 0)
    return fail(-1, "no projection MLP (1x1 Conv, GELU or SiLU, 1x1 Conv) after the layers");
  // [Mul std] [Add mean] per output channel: what follows otherwise is not the projection's
  const Shape stat = img({1, m_.cout}, 1, 1);
  if (const int mul = next(y, "Mul");
      mul >= 0 && is(mul, "Mul", 2) && float_init(other(mul, y), stat)) {
    m_.out_std = other(mul, y);
    nodes.push_back(mul);
    y = out(mul);
  }
  if (const int add = next(y, "Add");
      add >= 0 && is(add, "Add", 2) && float_init(other(add, y), stat)) {
    m_.out_mean = other(add, y);
    nodes.push_back(add);
    y = out(add);
  }
  if (shape(y) != img({m_.n, m_.cout}, m_.h, m_.w))
    return fail(-1, "the projection's output shape");
  m_.stages.push_back({"projection", nodes});
  m_.block_out = y;
  return true;
}

// Without a fused lift: the first value a layer pattern accepts as its input.
int Matcher::layers_start() {
  const WnoMatch before = m_;
  for (const GraphNode& n : g_.nodes)
    for (const int o : n.out) {
      const Shape& s = shape(o);
      if ((s.size() != 4 && s.size() != 3) || !reads_spectrum(o)) continue;
      m_.dims = static_cast<int>(s.size()) - 2;
      m_.n = static_cast<int>(s[0]);
      m_.c = static_cast<int>(s[1]);
      m_.hp = m_.dims == 2 ? static_cast<int>(s[2]) : 1;
      m_.wp = static_cast<int>(s.back());
      const WnoMatch shaped = m_;
      int v = o;
      std::vector<int> nodes;
      const bool ok = layer(&v, &nodes);
      m_ = ok ? shaped : before;
      why.clear();
      if (ok) return o;
    }
  return -1;
}

// The fused stages run layer by layer: one real-space kind (3x3 or 1x1) in the block, and a
// neuraloperator 1x1 layer's two GELUs together.
bool Matcher::layer_fits(const LayerMatch& L) {
  const LayerMatch& first = m_.layers.front();
  if ((L.kind == RealSpace::kPointwise) != (first.kind == RealSpace::kPointwise))
    return fail(-1, "layers mix 3x3 and 1x1 convolutions");
  if (L.kind == RealSpace::kPointwise && (L.mlp1_w >= 0 || L.gelu_out) && L.gelu != L.gelu_out)
    return fail(-1, "a 1x1 layer with one of neuraloperator's two GELUs");
  return true;
}

// Nothing outside the block reads a value it computes, but block_out; it reads nothing but
// block_in and initializers from outside.
bool Matcher::block_closed() {
  std::vector<char> in(g_.nodes.size(), 0);
  std::size_t covered = 0;
  for (const StageMatch& s : m_.stages)
    for (const int nd : s.nodes) {
      if (in[static_cast<std::size_t>(nd)]++) return fail(nd, "covered by two patterns");
      ++covered;
    }
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (!in[i]) continue;
    for (const int v : g_.nodes[i].in) {
      if (v < 0) continue;  // an omitted optional input (a DFT's dft_length "")
      const Value& x = g_.value(v);
      if (v != m_.block_in && !x.init && !in[static_cast<std::size_t>(x.producer)])
        return fail(static_cast<int>(i), "reads a value from outside its fused stage");
    }
    for (const int o : g_.nodes[i].out) {
      if (o == m_.block_out) continue;
      if (g_.value(o).is_output) return fail(static_cast<int>(i), "writes a graph output");
      for (const int c : g_.value(o).consumers)
        if (!in[static_cast<std::size_t>(c)]) return fail(c, "reads a value inside a fused stage");
    }
  }
  m_.whole = covered == g_.nodes.size();
  for (std::size_t i = 0; !m_.whole && m_.partial.empty() && i < in.size(); ++i)
    if (!in[i]) m_.partial = "node " + g_.nodes[i].label() + ": no fusion pattern covers it";
  return true;
}

// Remembers the first reason a pattern gave up, then forgets it (the block goes on without).
void Matcher::note() {
  if (m_.partial.empty() && !why.empty()) m_.partial = why;
  why.clear();
}

bool Matcher::run() {
  const WnoMatch empty = m_;
  int v = -1;
  m_.lift = lift(&v);
  if (m_.lift && !reads_spectrum(v)) {  // a prefix of the lift: the layers start elsewhere
    m_.lift = false;
    why = "no layer reads the lift's output";
  }
  if (!m_.lift) {
    const std::string why_lift = why;
    m_ = empty;
    why.clear();
    v = layers_start();
    if (v < 0) return fail(-1, why_lift + "; and no layer pattern matches anywhere");
    m_.partial = why_lift;
  }
  m_.block_in = m_.lift ? g_.input : v;
  for (int i = 0;; ++i) {
    std::vector<int> nodes;
    const WnoMatch before = m_;
    if (!layer(&v, &nodes) || !layer_fits(m_.layers.back())) {
      const int mm = consumer(v, "MatMul");
      if (why.empty() && mm >= 0) fail(mm, "not the spectral branch the fused stage computes");
      m_ = before;
      note();
      break;  // the block's layers end here
    }
    m_.stages.push_back({"layer " + std::to_string(i), nodes});
  }
  if (m_.layers.empty()) return fail(-1, m_.partial + "; no layer follows the lift");
  const WnoMatch before = m_;
  m_.project = project(v);
  if (!m_.project) {
    m_ = before;
    note();
  }
  if (!m_.project) m_.block_out = v;
  return block_closed();
}

}  // namespace

bool match_wno(const Graph& g, WnoMatch* out, std::string* why_not) {
  *out = WnoMatch{};
  Matcher m(g, out);
  if (m.run()) return true;
  *out = WnoMatch{};
  if (why_not) *why_not = m.why.empty() ? "the graph is not a WNO" : m.why;
  return false;
}

}  // namespace wno::engine
