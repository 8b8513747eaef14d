// Reference kernels (reference.h): plain loops over float at any rank.
#include "reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

namespace wno::engine {

namespace {

constexpr int kRank = 8;          // build_graph's largest rank
constexpr long long kAlign = 16;  // floats: 64-byte aligned buffers

// Row-major strides of `shape`, right-aligned into `rank` dims; 0 for a broadcast (size-1) dim
// when `dims` (the output's) is larger.
void broadcast_strides(const std::vector<long long>& shape, int rank, const long long* dims,
                       long long* strides) {
  long long s = 1;
  const int off = rank - static_cast<int>(shape.size());
  for (int d = rank - 1; d >= 0; --d) {
    const long long n = d >= off ? shape[static_cast<std::size_t>(d - off)] : 1;
    strides[d] = (n == 1 && dims[d] != 1) ? 0 : s;
    s *= n;
  }
}

// Calls row(out_row_start, in_offsets...) for every row (last dim) of an output of `rank` dims,
// advancing the inputs' offsets by their strides (K inputs).
template <int K, class Row>
void for_rows(int rank, const long long* dims, const long long (*strides)[kRank], Row row) {
  long long rows = 1;
  for (int d = 0; d + 1 < rank; ++d) rows *= dims[d];
  const long long inner = rank ? dims[rank - 1] : 1;
  long long idx[kRank] = {0};
  long long off[K > 0 ? K : 1] = {0};
  for (long long r = 0; r < rows; ++r) {
    row(r * inner, off, idx);
    for (int d = rank - 2; d >= 0; --d) {
      ++idx[d];
      for (int k = 0; k < K; ++k) off[k] += strides[k][d];
      if (idx[d] < dims[d]) break;
      for (int k = 0; k < K; ++k) off[k] -= strides[k][d] * dims[d];
      idx[d] = 0;
    }
  }
}

float gelu(float x, bool tanh_approx) {  // as ONNX Runtime's Gelu kernel
  if (tanh_approx) {
    constexpr float kAlpha = static_cast<float>(M_2_SQRTPI * M_SQRT1_2);
    constexpr float kGamma = 0.044715f;
    constexpr float kBeta = kGamma * kAlpha;
    const float inner = x * (kBeta * x * x + kAlpha);
    return 0.5f * x * (std::tanh(inner) + 1.0f);
  }
  return 0.5f * x * (std::erf(x * static_cast<float>(M_SQRT1_2)) + 1.0f);
}

void binary(Op op, const Value& a, const Value& b, const Value& y, const float* pa, const float* pb,
            float* py) {
  const int r = static_cast<int>(y.shape.size());
  long long strides[2][kRank] = {};
  broadcast_strides(a.shape, r, y.shape.data(), strides[0]);
  broadcast_strides(b.shape, r, y.shape.data(), strides[1]);
  const long long n = r ? y.shape[static_cast<std::size_t>(r - 1)] : 1;
  const long long sa = r ? strides[0][r - 1] : 0, sb = r ? strides[1][r - 1] : 0;
  for_rows<2>(r, y.shape.data(), strides, [&](long long o, const long long* off, const long long*) {
    const float* x0 = pa + off[0];
    const float* x1 = pb + off[1];
    float* out = py + o;
    switch (op) {
      case Op::kAdd:
        for (long long j = 0; j < n; ++j) out[j] = x0[j * sa] + x1[j * sb];
        break;
      case Op::kSub:
        for (long long j = 0; j < n; ++j) out[j] = x0[j * sa] - x1[j * sb];
        break;
      case Op::kMul:
        for (long long j = 0; j < n; ++j) out[j] = x0[j * sa] * x1[j * sb];
        break;
      default:
        for (long long j = 0; j < n; ++j) out[j] = x0[j * sa] / x1[j * sb];
        break;
    }
  });
}

// y (contiguous, shape `dims`) = x[base + sum idx[d] * strides[d]].
void gather(int r, const long long* dims, const long long* strides, const float* x, float* y) {
  long long s[1][kRank] = {};
  for (int d = 0; d < r; ++d) s[0][d] = strides[d];
  const long long n = r ? dims[r - 1] : 1;
  const long long sl = r ? strides[r - 1] : 0;
  for_rows<1>(r, dims, s, [&](long long o, const long long* off, const long long*) {
    const float* in = x + off[0];
    for (long long j = 0; j < n; ++j) y[o + j] = in[j * sl];
  });
}

void contiguous_strides(const std::vector<long long>& shape, long long* strides) {
  long long s = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    strides[d] = s;
    s *= shape[static_cast<std::size_t>(d)];
  }
}

void transpose(const GraphNode& n, const Value& x, const Value& y, const float* px, float* py) {
  const int r = static_cast<int>(y.shape.size());
  long long in[kRank], s[kRank];
  contiguous_strides(x.shape, in);
  for (int d = 0; d < r; ++d) s[d] = in[n.p.perm[static_cast<std::size_t>(d)]];
  gather(r, y.shape.data(), s, px, py);
}

void slice(const GraphNode& n, const Value& x, const Value& y, const float* px, float* py) {
  const int r = static_cast<int>(y.shape.size());
  long long in[kRank], s[kRank];
  contiguous_strides(x.shape, in);
  long long base = 0;
  for (int d = 0; d < r; ++d) {
    base += n.p.starts[static_cast<std::size_t>(d)] * in[d];
    s[d] = n.p.steps[static_cast<std::size_t>(d)] * in[d];
  }
  gather(r, y.shape.data(), s, px + base, py);
}

void pad(const GraphNode& n, const Value& x, const Value& y, const float* px, float* py) {
  const int r = static_cast<int>(y.shape.size());
  if (r == 0) {
    *py = *px;
    return;
  }
  long long in[kRank];
  contiguous_strides(x.shape, in);
  const long long none[1][kRank] = {};
  const long long last = y.shape[static_cast<std::size_t>(r - 1)];
  const long long xlast = x.shape[static_cast<std::size_t>(r - 1)];
  const long long b = n.p.begin[static_cast<std::size_t>(r - 1)];
  const float v = n.p.value;
  for_rows<0>(r, y.shape.data(), none, [&](long long o, const long long*, const long long* idx) {
    float* out = py + o;
    long long base = 0;
    for (int d = 0; d + 1 < r; ++d) {
      const long long i = idx[d] - n.p.begin[static_cast<std::size_t>(d)];
      if (i < 0 || i >= x.shape[static_cast<std::size_t>(d)]) {
        std::fill(out, out + last, v);
        return;
      }
      base += i * in[d];
    }
    for (long long j = 0; j < last; ++j) {
      const long long i = j - b;
      out[j] = i >= 0 && i < xlast ? px[base + i] : v;
    }
  });
}

void matmul(const Value& a, const Value& b, const float* pa, const float* pb, float* py) {
  const int ra = static_cast<int>(a.shape.size()), rb = static_cast<int>(b.shape.size());
  const long long M = ra == 1 ? 1 : a.shape[static_cast<std::size_t>(ra - 2)];
  const long long K = a.shape[static_cast<std::size_t>(ra - 1)];
  const long long N = rb == 1 ? 1 : b.shape[static_cast<std::size_t>(rb - 1)];
  const int ba = ra >= 2 ? ra - 2 : 0, bb = rb >= 2 ? rb - 2 : 0, r = std::max(ba, bb);
  long long dims[kRank], sa[kRank], sb[kRank], batches = 1;
  for (int d = 0; d < r; ++d) {
    const long long da = d >= r - ba ? a.shape[static_cast<std::size_t>(d - (r - ba))] : 1;
    const long long db = d >= r - bb ? b.shape[static_cast<std::size_t>(d - (r - bb))] : 1;
    dims[d] = da == 1 ? db : da;
    batches *= dims[d];
  }
  long long s1 = M * K, s2 = K * N;
  for (int d = r - 1; d >= 0; --d) {
    const long long da = d >= r - ba ? a.shape[static_cast<std::size_t>(d - (r - ba))] : 1;
    const long long db = d >= r - bb ? b.shape[static_cast<std::size_t>(d - (r - bb))] : 1;
    sa[d] = da == 1 && dims[d] != 1 ? 0 : s1;
    sb[d] = db == 1 && dims[d] != 1 ? 0 : s2;
    s1 *= da;
    s2 *= db;
  }
  long long idx[kRank] = {0}, oa = 0, ob = 0;
  for (long long t = 0; t < batches; ++t) {
    float* out = py + t * M * N;
    for (long long m = 0; m < M; ++m) {
      float* row = out + m * N;
      std::fill(row, row + N, 0.0f);
      for (long long k = 0; k < K; ++k) {
        const float av = pa[oa + m * K + k];
        const float* brow = pb + ob + k * N;
        for (long long j = 0; j < N; ++j) row[j] += av * brow[j];
      }
    }
    for (int d = r - 1; d >= 0; --d) {
      ++idx[d];
      oa += sa[d];
      ob += sb[d];
      if (idx[d] < dims[d]) break;
      oa -= sa[d] * dims[d];
      ob -= sb[d] * dims[d];
      idx[d] = 0;
    }
  }
}

// Conv over 1 to 3 spatial dims, as 3 (the missing leading ones of size 1).
void conv(const GraphNode& n, const Value& x, const Value& w, const Value& y, const float* px,
          const float* pw, const float* pb, float* py) {
  const int sp = static_cast<int>(x.shape.size()) - 2;
  long long X[3] = {1, 1, 1}, Kd[3] = {1, 1, 1}, O[3] = {1, 1, 1}, S[3] = {1, 1, 1},
            D[3] = {1, 1, 1}, P[3] = {0, 0, 0};
  for (int i = 0; i < sp; ++i) {
    const int j = 3 - sp + i;
    const std::size_t u = static_cast<std::size_t>(i);
    X[j] = x.shape[u + 2];
    Kd[j] = n.p.kernel[u];
    O[j] = y.shape[u + 2];
    S[j] = n.p.strides[u];
    D[j] = n.p.dilations[u];
    P[j] = n.p.pads_begin[u];
  }
  const long long batch = x.shape[0], C = x.shape[1], M = w.shape[0], G = n.p.group;
  const long long Cg = C / G, Mg = M / G, xs = X[0] * X[1] * X[2], ks = Kd[0] * Kd[1] * Kd[2];
  const long long os = O[0] * O[1] * O[2];
  for (long long nb = 0; nb < batch; ++nb)
    for (long long g = 0; g < G; ++g)
      for (long long oc = 0; oc < Mg; ++oc) {
        const long long m = g * Mg + oc;
        const float* wm = pw + m * Cg * ks;
        const float* xg = px + (nb * C + g * Cg) * xs;
        float* out = py + (nb * M + m) * os;
        const float bias = pb ? pb[m] : 0.0f;
        for (long long od = 0; od < O[0]; ++od)
          for (long long oh = 0; oh < O[1]; ++oh)
            for (long long ow = 0; ow < O[2]; ++ow) {
              float acc = 0.0f;
              for (long long ic = 0; ic < Cg; ++ic) {
                const float* xc = xg + ic * xs;
                const float* wc = wm + ic * ks;
                for (long long kd = 0; kd < Kd[0]; ++kd) {
                  const long long id = od * S[0] - P[0] + kd * D[0];
                  if (id < 0 || id >= X[0]) continue;
                  for (long long kh = 0; kh < Kd[1]; ++kh) {
                    const long long ih = oh * S[1] - P[1] + kh * D[1];
                    if (ih < 0 || ih >= X[1]) continue;
                    const float* xr = xc + (id * X[1] + ih) * X[2];
                    const float* wr = wc + (kd * Kd[1] + kh) * Kd[2];
                    for (long long kw = 0; kw < Kd[2]; ++kw) {
                      const long long iw = ow * S[2] - P[2] + kw * D[2];
                      if (iw >= 0 && iw < X[2]) acc += xr[iw] * wr[kw];
                    }
                  }
                }
              }
              out[(od * O[1] + oh) * O[2] + ow] = acc + bias;
            }
      }
}

// DFT along p.dft_axis as ONNX defines it (graph.cpp checked the shapes), summed directly in
// double over the table `tw` (cos then sin of 2 pi k / n): exact to float rounding, which an
// FFT's is not, so it agrees with any runtime's FFT within that runtime's own error.
void dft(const GraphNode& n, const Value& x, const Value& y, const double* tw, const float* px,
         float* py) {
  const NodeParams& p = n.p;
  const std::size_t a = static_cast<std::size_t>(p.dft_axis);
  const long long len = p.dft_length, have = x.shape[a], got = y.shape[a];
  const long long cin = x.shape.back(), cout = y.shape.back();
  long long outer = 1, inner = 1;
  for (std::size_t d = 0; d < a; ++d) outer *= x.shape[d];
  for (std::size_t d = a + 1; d + 1 < x.shape.size(); ++d) inner *= x.shape[d];
  const double* cs = tw;
  const double* sn = tw + len;
  const double sign = p.dft_inverse ? 1.0 : -1.0, scale = p.dft_inverse ? 1.0 / len : 1.0;
  const bool irfft = p.dft_inverse && p.dft_onesided;
  const long long used = std::min(have, len);  // dft_length pads with zeros or truncates
  for (long long o = 0; o < outer; ++o)
    for (long long i = 0; i < inner; ++i) {
      const float* line = px + o * have * inner * cin + i * cin;
      float* dst = py + o * got * inner * cout + i * cout;
      const long long step = inner * cin;
      for (long long k = 0; k < got; ++k) {
        double re = 0.0, im = 0.0;
        const long long turn = k % len;
        long long t = 0;  // j * k mod n, advanced by k each term (no division in the loop)
        for (long long j = 0; j < used; ++j, t = t + turn >= len ? t + turn - len : t + turn) {
          const double xr = line[j * step], xi = cin == 2 ? line[j * step + 1] : 0.0;
          if (irfft) {  // bin j stands for itself and its conjugate twin, except 0 and n/2
            const double twice = j == 0 || 2 * j == len ? 1.0 : 2.0;
            re += twice * (xr * cs[t] - xi * sn[t]);
          } else {
            re += xr * cs[t] - sign * xi * sn[t];
            im += xi * cs[t] + sign * xr * sn[t];
          }
        }
        float* v = dst + k * inner * cout;
        v[0] = static_cast<float>(re * scale);
        if (cout == 2) v[1] = static_cast<float>(im * scale);
      }
    }
}

// First-fit allocation of float ranges, freed ranges merged (the liveness plan's memory).
class Planner {
 public:
  long long alloc(long long size) {
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second < size) continue;
      const long long off = it->first, left = it->second - size;
      free_.erase(it);
      if (left) free_.emplace(off + size, left);
      return off;
    }
    long long off = top_;
    if (!free_.empty()) {  // a free block at the top grows instead of a new one
      const auto last = std::prev(free_.end());
      if (last->first + last->second == top_) {
        off = last->first;
        free_.erase(last);
      }
    }
    top_ = off + size;
    peak_ = std::max(peak_, top_);
    return off;
  }
  void release(long long off, long long size) {
    auto next = free_.lower_bound(off);
    if (next != free_.end() && off + size == next->first) {
      size += next->second;
      next = free_.erase(next);
    }
    if (next != free_.begin()) {
      const auto prev = std::prev(next);
      if (prev->first + prev->second == off) {
        off = prev->first;
        size += prev->second;
        free_.erase(prev);
      }
    }
    if (off + size == top_)
      top_ = off;
    else
      free_.emplace(off, size);
  }
  long long peak() const { return peak_; }

 private:
  std::map<long long, long long> free_;  // offset -> size
  long long top_ = 0, peak_ = 0;
};

long long padded(long long elements) {
  return std::max(kAlign, (elements + kAlign - 1) / kAlign * kAlign);
}

}  // namespace

bool ReferenceRunner::build(const Graph& g, long long max_bytes, std::string* error,
                            const FusedBlock* block) {
  g_ = &g;
  block_ = block ? *block : FusedBlock{};
  if (!block) block_.skip.assign(g.nodes.size(), 0);
  arena_.clear();
  const std::size_t nv = g.values.size();
  offset_.assign(nv, -1);
  // Float initializers that a node outside the block or the output reads: a fixed region at
  // the start.
  long long fixed = 0;
  for (std::size_t i = 0; i < nv; ++i) {
    const Value& v = g.values[i];
    bool read = v.is_output;
    for (const int c : v.consumers) read |= !block_.skip[static_cast<std::size_t>(c)];
    if (!v.init || v.dtype != kFloat || !read) continue;
    offset_[i] = fixed;
    fixed += padded(v.elements());
  }
  // The computed values (and the input) by liveness: placed before their producer runs, freed
  // after their last consumer; the output is never freed.
  // A block's node reads its inputs when the block runs, at block_.at.
  std::vector<int> last(nv, -1);
  for (std::size_t i = 0; i < nv; ++i) {
    const Value& v = g.values[i];
    for (const int c : v.consumers)
      last[i] = std::max(last[i], block_.skip[static_cast<std::size_t>(c)] ? block_.at : c);
    if (v.is_output) last[i] = static_cast<int>(g.nodes.size());
  }
  std::vector<long long> planned(nv, -1);
  Planner plan;
  auto place = [&](int id) {
    const std::size_t u = static_cast<std::size_t>(id);
    planned[u] = plan.alloc(padded(g.values[u].elements()));
    offset_[u] = fixed + planned[u];
  };
  auto release = [&](int id) {
    const std::size_t u = static_cast<std::size_t>(id);
    if (g.values[u].init || planned[u] < 0) return;
    plan.release(planned[u], padded(g.values[u].elements()));
    planned[u] = -1;
  };
  if (g.input >= 0) place(g.input);
  for (const GraphNode& n : g.nodes) {
    if (block_.skip[static_cast<std::size_t>(n.index)]) {
      if (n.index != block_.at) continue;
      place(block_.out);  // the block as one node: reads block_.in, writes block_.out
      if (last[static_cast<std::size_t>(block_.in)] == n.index) release(block_.in);
      continue;
    }
    for (const int o : n.out) place(o);
    for (const int id : n.in)
      if (id >= 0 && last[static_cast<std::size_t>(id)] == n.index) release(id);
    for (const int o : n.out)
      if (last[static_cast<std::size_t>(o)] < 0) release(o);  // nothing reads it
  }
  twiddles_.clear();
  long long tables = 0;  // floats' worth of the DFT tables
  for (const GraphNode& n : g.nodes)
    if (n.op == Op::kDFT && !block_.skip[static_cast<std::size_t>(n.index)] &&
        twiddles_.emplace(n.p.dft_length, std::vector<double>{}).second)
      tables += 4 * n.p.dft_length;  // 2n doubles
  const long long total = fixed + plan.peak();
  if (total + tables > max_bytes / static_cast<long long>(sizeof(float))) {
    twiddles_.clear();
    *error = "the reference plan needs " + std::to_string((total + tables) * 4) +
             " bytes, more than the limit of " + std::to_string(max_bytes);
    return false;
  }
  arena_.assign(static_cast<std::size_t>(total), 0.0f);
  for (auto& [len, tw] : twiddles_) {
    tw.resize(static_cast<std::size_t>(2 * len));
    for (long long k = 0; k < len; ++k) {
      const double angle = 2.0 * M_PI * static_cast<double>(k) / static_cast<double>(len);
      tw[static_cast<std::size_t>(k)] = std::cos(angle);
      tw[static_cast<std::size_t>(len + k)] = std::sin(angle);
    }
  }
  for (std::size_t i = 0; i < nv; ++i) {
    const Value& v = g.values[i];
    if (v.init && offset_[i] >= 0 && v.init->data.size)
      std::memcpy(arena_.data() + offset_[i], v.init->data.data, v.init->data.size);
  }
  return true;
}

void ReferenceRunner::run(const float* x, float* y) {
  const Graph& g = *g_;
  float* const base = arena_.data();
  auto buf = [&](int id) { return base + offset_[static_cast<std::size_t>(id)]; };
  auto val = [&](int id) -> const Value& { return g.value(id); };
  if (g.input >= 0)
    std::memcpy(buf(g.input), x, static_cast<std::size_t>(val(g.input).elements()) * sizeof(float));
  for (const GraphNode& n : g.nodes) {
    if (block_.skip[static_cast<std::size_t>(n.index)]) {
      if (n.index == block_.at) block_.run(block_.ctx, buf(block_.in), buf(block_.out));
      continue;
    }
    const Value& out = val(n.out[0]);
    float* py = buf(n.out[0]);
    const float* p0 = buf(n.in[0]);
    const long long count = out.elements();
    switch (n.op) {
      case Op::kAdd:
      case Op::kSub:
      case Op::kMul:
      case Op::kDiv:
        binary(n.op, val(n.in[0]), val(n.in[1]), out, p0, buf(n.in[1]), py);
        break;
      case Op::kErf:
        for (long long i = 0; i < count; ++i) py[i] = std::erf(p0[i]);
        break;
      case Op::kSigmoid:
        for (long long i = 0; i < count; ++i) py[i] = 1.0f / (1.0f + std::exp(-p0[i]));
        break;
      case Op::kGelu:
        for (long long i = 0; i < count; ++i) py[i] = gelu(p0[i], n.p.gelu_tanh);
        break;
      case Op::kIdentity:
      case Op::kReshape:
        std::memcpy(py, p0, static_cast<std::size_t>(count) * sizeof(float));
        break;
      case Op::kMatMul:
        matmul(val(n.in[0]), val(n.in[1]), p0, buf(n.in[1]), py);
        break;
      case Op::kTranspose:
        transpose(n, val(n.in[0]), out, p0, py);
        break;
      case Op::kSlice:
        slice(n, val(n.in[0]), out, p0, py);
        break;
      case Op::kPad:
        pad(n, val(n.in[0]), out, p0, py);
        break;
      case Op::kDFT:
        dft(n, val(n.in[0]), out, twiddles_.at(n.p.dft_length).data(), p0, py);
        break;
      case Op::kConv:
      case Op::kWinogradConv: {
        const bool bias = n.in.size() > 2 && n.in[2] >= 0;
        conv(n, val(n.in[0]), val(n.in[1]), out, p0, buf(n.in[1]), bias ? buf(n.in[2]) : nullptr,
             py);
        break;
      }
    }
  }
  std::memcpy(y, buf(g.output), static_cast<std::size_t>(val(g.output).elements()) * sizeof(float));
}

bool reference_supports(std::string_view domain, std::string_view op_type) {
  Op op;
  return op_of(domain, op_type, &op);
}

}  // namespace wno::engine
