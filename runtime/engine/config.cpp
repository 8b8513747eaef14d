#include "config.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace wno::engine {
namespace {

// Every message names its source: "wno_edge.config: " + what.
std::string config_error(std::string_view what) {
  return std::string(contract::kMetadataConfig) + ": " + std::string(what);
}

// A bound as WNOConfig's messages write it (Python's :g): 4.0 -> "4".
std::string number_text(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

// A string from the file for a message: printable ASCII (other bytes as \xNN), cut at about
// `limit` characters, so that a message stays one short line whatever the file holds (a 60 KiB
// key, an escaped newline).
std::string shown(std::string_view s, std::size_t limit = 60) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (out.size() > limit) return out + "...\"";
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      out += esc;
    }
  }
  return out + "\"";
}

// The contract's grid_points values, quoted: "endpoints", "centers" or "left".
std::string grid_points_text() {
  std::string text;
  const std::size_t n = std::size(contract::kGridPoints);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) text += i + 1 == n ? " or " : ", ";
    text += std::string("\"") + contract::kGridPoints[i] + "\"";
  }
  return text;
}

// A JSON value. Numbers keep both readings: `integral` when written without fraction or
// exponent (then `i`, which fits int64), and `d`, the nearest double (finite).
struct Node {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool b = false;
  bool integral = false;
  std::int64_t i = 0;
  double d = 0;
  std::string s;
  std::vector<Node> items;
  std::vector<std::pair<std::string, Node>> members;
};

// Strict RFC 8259 JSON within contract.h's kMaxConfig* limits, the grammar wno_edge's Python
// reader (runtime/onnx_metadata.py) accepts: no NaN / Infinity, no leading zeros, no trailing
// commas, no number that overflows a double, no integer outside int64, no lone surrogate, valid
// UTF-8, no duplicate key. Recursion is bounded by kMaxConfigDepth.
class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  bool document(Node* root, std::string* error) {
    ws();
    if (!value(root, 0)) return fail(error);
    ws();
    if (i_ != s_.size()) return fail(error, "trailing characters after the JSON value");
    return true;
  }

 private:
  bool fail(std::string* error, const char* what = nullptr) {
    if (what && why_.empty()) why_ = what;
    *error = config_error("malformed JSON: " + (why_.empty() ? std::string("syntax error") : why_) +
                          " at byte " + std::to_string(i_));
    return false;
  }
  bool bad(const std::string& what) {  // the first reason wins
    if (why_.empty()) why_ = what;
    return false;
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool at(char c) const { return i_ < s_.size() && s_[i_] == c; }
  bool digit() const { return i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9'; }
  bool word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  bool value(Node* v, int depth) {
    if (at('{') || at('[')) {
      if (depth + 1 > contract::kMaxConfigDepth)
        return bad("nested deeper than " + std::to_string(contract::kMaxConfigDepth) + " levels");
      return at('{') ? object(v, depth + 1) : array(v, depth + 1);
    }
    if (at('"')) {
      v->kind = Node::kString;
      return string(&v->s);
    }
    if (word("true")) {
      v->kind = Node::kBool;
      v->b = true;
      return true;
    }
    if (word("false")) {
      v->kind = Node::kBool;
      return true;
    }
    if (word("null")) return true;
    if (at('-') || digit()) return number(v);
    return bad("expected a value");
  }

  bool object(Node* v, int depth) {
    v->kind = Node::kObject;
    ++i_;  // '{'
    ws();
    if (at('}')) {
      ++i_;
      return true;
    }
    for (;;) {
      ws();
      if (!at('"')) return bad("expected a quoted key");
      std::string key;
      if (!string(&key)) return false;
      if (key.size() > static_cast<std::size_t>(contract::kMaxConfigKeyBytes))
        return bad("a key is longer than " + std::to_string(contract::kMaxConfigKeyBytes) +
                   " bytes (" + shown(key) + ")");
      for (const auto& m : v->members)
        if (m.first == key) return bad("duplicate key " + shown(key));
      if (v->members.size() == static_cast<std::size_t>(contract::kMaxConfigItems))
        return bad("an object has more than " + std::to_string(contract::kMaxConfigItems) +
                   " members");
      ws();
      if (!at(':')) return bad("expected ':'");
      ++i_;
      ws();
      v->members.emplace_back(std::move(key), Node());
      if (!value(&v->members.back().second, depth)) return false;
      ws();
      if (at(',')) {
        ++i_;
        continue;
      }
      if (at('}')) {
        ++i_;
        return true;
      }
      return bad("expected ',' or '}'");
    }
  }

  bool array(Node* v, int depth) {
    v->kind = Node::kArray;
    ++i_;  // '['
    ws();
    if (at(']')) {
      ++i_;
      return true;
    }
    for (;;) {
      ws();
      if (v->items.size() == static_cast<std::size_t>(contract::kMaxConfigItems))
        return bad("an array has more than " + std::to_string(contract::kMaxConfigItems) +
                   " elements");
      v->items.emplace_back();
      if (!value(&v->items.back(), depth)) return false;
      ws();
      if (at(',')) {
        ++i_;
        continue;
      }
      if (at(']')) {
        ++i_;
        return true;
      }
      return bad("expected ',' or ']'");
    }
  }

  bool hex4(std::uint32_t* out) {
    if (s_.size() - i_ < 4) return false;
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    *out = v;
    return true;
  }

  static void append_utf8(std::string* out, std::uint32_t cp) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // The length of the valid UTF-8 sequence at i_ (RFC 3629: no overlong form, no surrogate,
  // nothing above U+10FFFF: what Python's decoder accepts), or 0.
  std::size_t utf8_length() const {
    const auto byte = [this](std::size_t k) {
      return i_ + k < s_.size() ? static_cast<unsigned char>(s_[i_ + k]) : 0u;
    };
    const unsigned c = byte(0);
    const auto cont = [&](std::size_t k) { return (byte(k) & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      const unsigned c1 = byte(1);
      const bool ok = c == 0xE0   ? (c1 >= 0xA0 && c1 <= 0xBF)
                      : c == 0xED ? (c1 >= 0x80 && c1 <= 0x9F)
                                  : cont(1);
      return ok && cont(2) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      const unsigned c1 = byte(1);
      const bool ok = c == 0xF0   ? (c1 >= 0x90 && c1 <= 0xBF)
                      : c == 0xF4 ? (c1 >= 0x80 && c1 <= 0x8F)
                                  : cont(1);
      return ok && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
  }

  bool string(std::string* out) {
    ++i_;  // '"'
    for (;;) {
      if (i_ >= s_.size()) return bad("unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return bad("a control character in a string");
      if (c == '\\') {
        if (++i_ >= s_.size()) return bad("unterminated string");
        const char e = s_[i_++];
        switch (e) {
          case '"':
          case '\\':
          case '/':
            *out += e;
            break;
          case 'b':
            *out += '\b';
            break;
          case 'f':
            *out += '\f';
            break;
          case 'n':
            *out += '\n';
            break;
          case 'r':
            *out += '\r';
            break;
          case 't':
            *out += '\t';
            break;
          case 'u': {
            std::uint32_t cp = 0;
            if (!hex4(&cp)) return bad("a bad \\u escape");
            if (cp >= 0xDC00 && cp <= 0xDFFF) return bad("a lone surrogate in a string");
            if (cp >= 0xD800 && cp <= 0xDBFF) {  // must pair with a low surrogate escape
              std::uint32_t low = 0;
              if (!word("\\u") || !hex4(&low) || low < 0xDC00 || low > 0xDFFF)
                return bad("a lone surrogate in a string");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            append_utf8(out, cp);
            break;
          }
          default:
            return bad("a bad escape in a string");
        }
        continue;
      }
      if (c < 0x80) {
        *out += static_cast<char>(c);
        ++i_;
        continue;
      }
      const std::size_t n = utf8_length();
      if (n == 0) return bad("invalid UTF-8 in a string");
      out->append(s_.substr(i_, n));
      i_ += n;
    }
  }

  bool number(Node* v) {
    const std::size_t start = i_;
    if (at('-')) ++i_;
    if (at('0')) {
      ++i_;
    } else if (digit()) {
      while (digit()) ++i_;
    } else {
      return bad("a bad number");
    }
    bool integral = true;
    if (at('.')) {
      ++i_;
      if (!digit()) return bad("a bad number");
      while (digit()) ++i_;
      integral = false;
    }
    if (at('e') || at('E')) {
      ++i_;
      if (at('+') || at('-')) ++i_;
      if (!digit()) return bad("a bad number");
      while (digit()) ++i_;
      integral = false;
    }
    const std::string_view text = s_.substr(start, i_ - start);
    v->kind = Node::kNumber;
    v->integral = integral;
    if (integral) {  // -2^63 <= value < 2^63, as the Python reader
      const bool neg = text[0] == '-';
      constexpr std::uint64_t kLimit = std::uint64_t{1} << 63;
      std::uint64_t x = 0;
      for (std::size_t k = neg ? 1 : 0; k < text.size(); ++k) {
        const unsigned d = static_cast<unsigned>(text[k] - '0');
        if (x > (kLimit - d) / 10) return bad("an integer out of range");
        x = x * 10 + d;
      }
      if (!neg && x == kLimit) return bad("an integer out of range");
      v->i = neg ? static_cast<std::int64_t>(0 - x) : static_cast<std::int64_t>(x);
      v->d = static_cast<double>(v->i);
      return true;
    }
    const std::string copy(text);  // NUL-terminated for strtod
    v->d = std::strtod(copy.c_str(), nullptr);
    if (!std::isfinite(v->d)) return bad("a number out of range");
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::string why_;
};

// One to three integers in [lo, hi] (one per spatial axis: the rank is checked across keys).
bool axis_ints(const Node& v, std::int64_t lo, std::int64_t hi, std::int64_t out[3], int* count) {
  if (v.kind != Node::kArray || v.items.empty() || v.items.size() > 3) return false;
  for (std::size_t k = 0; k < v.items.size(); ++k) {
    const Node& e = v.items[k];
    if (e.kind != Node::kNumber || !e.integral || e.i < lo || e.i > hi) return false;
    out[k] = e.i;
  }
  *count = static_cast<int>(v.items.size());
  return true;
}

bool two_numbers(const Node& v, double out[2]) {
  if (v.kind != Node::kArray || v.items.size() != 2) return false;
  for (int k = 0; k < 2; ++k) {
    if (v.items[k].kind != Node::kNumber) return false;
    out[k] = v.items[k].d;
  }
  return true;
}

// How many axes each per-axis key gave (0: absent or null), for the checks across keys: the
// rank is len(modes) (2 when absent), and resolution, grid_domain and domain_padding_fraction
// have one entry per axis when present (wno_edge/contract.py WNOConfig).
struct AxisCounts {
  int modes = 0, resolution = 0, grid_domain = 0, padding_fraction = 0, padding_axes = 0;
};

// A string key's value, one of `names` (contract.h): else false with *error set.
template <std::size_t N>
bool one_of(const std::string& key, const Node& v, const char* const (&names)[N],
            std::string* error) {
  std::string listed;
  for (const char* name : names) {
    if (v.kind == Node::kString && v.s == name) return true;
    listed += (listed.empty() ? "" : ", ") + std::string(name);
  }
  *error = config_error(key + " must be one of " + listed);
  return false;
}

// WNOConfig's checks (wno_edge/contract.py) on one key: false after setting *error.
bool assign(const std::string& key, const Node& v, WnoConfig* c, AxisCounts* axes,
            std::string* error, bool* unsupported) {
  struct IntKey {
    const char* name;
    int* field;
    int lo, hi;
  };
  const IntKey ints[] = {
      {"in_channels", &c->in_channels, 1, contract::kMaxChannels},
      {"out_channels", &c->out_channels, 1, contract::kMaxChannels},
      {"width", &c->width, 1, contract::kMaxWidth},
      {"n_layers", &c->n_layers, 1, contract::kMaxLayers},
      {"domain_padding", &c->domain_padding, 0, contract::kMaxResolution},
      {"projection_width", &c->projection_width, 1, contract::kMaxWidth},
      {"lifting_width", &c->lifting_width, 0, contract::kMaxWidth},
      {"channel_mlp_width", &c->channel_mlp_width, 0, contract::kMaxWidth},
      {"projection_layers", &c->projection_layers, 0, contract::kMaxLayers},
  };
  for (const IntKey& k : ints) {
    if (key != k.name) continue;
    if (v.kind != Node::kNumber || !v.integral || v.i < k.lo || v.i > k.hi) {
      *error = config_error(std::string(k.name) + " must be an integer in [" +
                            std::to_string(k.lo) + ", " + std::to_string(k.hi) + "]");
      return false;
    }
    *k.field = static_cast<int>(v.i);
    return true;
  }
  if (key == "winograd_tile") {
    if (v.kind != Node::kNumber || !v.integral || !contract::valid_tile(v.i)) {
      std::string tiles;
      for (const int m : contract::kTiles) tiles += (tiles.empty() ? "" : ", ") + std::to_string(m);
      *error = config_error("winograd_tile must be one of " + tiles);
      return false;
    }
    c->winograd_tile = static_cast<int>(v.i);
    return true;
  }
  for (const auto& k : {std::pair<const char*, bool*>{"real_space_kernel", &c->real_space_kernel},
                        std::pair<const char*, bool*>{"grid", &c->grid},
                        std::pair<const char*, bool*>{"channel_mlp_skip", &c->channel_mlp_skip}}) {
    if (key != k.first) continue;
    if (v.kind != Node::kBool) {
      *error = config_error(std::string(k.first) + " must be true or false");
      return false;
    }
    *k.second = v.b;
    return true;
  }
  std::int64_t pair[3] = {0, 0, 0};  // a 3-D config's third axis is checked, not kept
  if (key == "modes") {
    if (!axis_ints(v, 1, contract::kMaxModes, pair, &axes->modes)) {
      *error = config_error("modes must be two integers (2-D), one (1-D) or three (3-D) in [1, " +
                            std::to_string(contract::kMaxModes) + "]");
      return false;
    }
    c->modes1 = static_cast<int>(pair[0]);
    c->modes2 = static_cast<int>(pair[1]);
    return true;
  }
  if (key == "resolution") {
    if (v.kind == Node::kNull) return true;
    if (!axis_ints(v, 1, contract::kMaxResolution, pair, &axes->resolution)) {
      *error = config_error("resolution must be null or one integer per axis in [1, " +
                            std::to_string(contract::kMaxResolution) + "]");
      return false;
    }
    c->resolution_h = static_cast<int>(pair[0]);
    c->resolution_w = static_cast<int>(pair[1]);
    return true;
  }
  // The grid's coordinates are baked into the lift constant (lift.bias_and_grid); they are
  // checked as WNOConfig checks them, so that both readers accept the same files.
  if (key == "grid_domain") {
    bool ok = v.kind == Node::kArray && !v.items.empty() && v.items.size() <= 3;
    for (std::size_t axis = 0; ok && axis < v.items.size(); ++axis) {
      double x[2];
      ok = two_numbers(v.items[axis], x) && std::fabs(x[0]) <= contract::kMaxCoordinate &&
           std::fabs(x[1]) <= contract::kMaxCoordinate && x[0] < x[1];
    }
    if (!ok) {
      *error = config_error(
          "grid_domain must be [[x0, x1], [y0, y1]] (1-D: [[x0, x1]], 3-D: three) with x0 < x1, "
          "|x| <= " +
          number_text(contract::kMaxCoordinate));
      return false;
    }
    axes->grid_domain = static_cast<int>(v.items.size());
    return true;
  }
  if (key == "grid_points") {
    bool known = false;
    for (const char* name : contract::kGridPoints) known |= v.kind == Node::kString && v.s == name;
    if (!known) {
      *error = config_error("grid_points must be " + grid_points_text());
      return false;
    }
    return true;
  }
  if (key == "block") {
    if (v.kind != Node::kString || (v.s != "wno" && v.s != "neuralop")) {
      *unsupported = v.kind == Node::kString;
      *error = v.kind == Node::kString
                   ? "unsupported model: block " + shown(v.s) + " (this engine runs wno, neuralop)"
                   : config_error("block must be a string");
      return false;
    }
    c->block_neuralop = v.s == "neuralop";
    return true;
  }
  // PhysicsNeMo's FNO: activations and the padding's values (the graph computes them; checked only)
  if (key == "activation" || key == "projection_activation") {
    if (!one_of(key, v, contract::kActivations, error)) return false;
    if (key == "activation") c->activation_gelu = v.s == "gelu";
    return true;
  }
  if (key == "padding_mode") return one_of(key, v, contract::kPaddingModes, error);
  if (key == "domain_padding_axes") {  // [] (none) or one cell count per axis
    bool ok = v.kind == Node::kArray && v.items.size() <= 3;
    for (std::size_t k = 0; ok && k < v.items.size(); ++k) {
      const Node& n = v.items[k];
      ok = n.kind == Node::kNumber && n.integral && n.i >= 0 && n.i <= contract::kMaxResolution;
    }
    if (!ok) {
      *error = config_error("domain_padding_axes must be one integer per axis in [0, " +
                            std::to_string(contract::kMaxResolution) + "]");
      return false;
    }
    axes->padding_axes = static_cast<int>(v.items.size());
    return true;
  }
  if (key == "domain_padding_fraction") {
    double f[3] = {0, 0, 0};
    constexpr double hi = contract::kMaxPaddingFraction;
    bool ok = v.kind == Node::kArray && !v.items.empty() && v.items.size() <= 3;
    for (std::size_t k = 0; ok && k < v.items.size(); ++k) {
      ok = v.items[k].kind == Node::kNumber && v.items[k].d >= 0 && v.items[k].d <= hi;
      if (ok) f[k] = v.items[k].d;
    }
    if (!ok) {
      *error = config_error("domain_padding_fraction must be one number per axis in [0, " +
                            number_text(hi) + "]");
      return false;
    }
    c->padding_fraction_h = f[0];
    c->padding_fraction_w = f[1];
    axes->padding_fraction = static_cast<int>(v.items.size());
    return true;
  }
  *unsupported = true;
  *error =
      config_error("unknown key " + shown(key) + " (a newer wno-edge format: update the engine)");
  return false;
}

}  // namespace

bool parse_config(std::string_view json, WnoConfig* cfg, std::string* error, bool* unsupported) {
  *unsupported = false;
  error->clear();
  if (json.size() > static_cast<std::size_t>(contract::kMaxConfigBytes)) {
    *error = config_error("malformed JSON: larger than " +
                          std::to_string(contract::kMaxConfigBytes) + " bytes");
    return false;
  }
  Node root;
  if (!Parser(json).document(&root, error)) return false;
  if (root.kind != Node::kObject) {
    *error = config_error("expected a JSON object");
    return false;
  }
  // Unknown keys first, as WNOConfig.from_dict: a newer format is "unsupported", whatever else.
  for (const auto& member : root.members) {
    bool known = false;
    for (const char* name : contract::kConfigKeys) known |= member.first == name;
    if (!known) {
      *unsupported = true;
      *error = config_error("unknown key " + shown(member.first) +
                            " (a newer wno-edge format: update the engine)");
      return false;
    }
  }
  bool has_in = false, has_out = false;
  AxisCounts axes;
  for (const auto& [key, value] : root.members) {
    if (!assign(key, value, cfg, &axes, error, unsupported)) return false;
    has_in |= key == "in_channels";
    has_out |= key == "out_channels";
  }
  if (!has_in || !has_out) {
    *error = config_error("missing in_channels or out_channels");
    return false;
  }
  // WNOConfig's checks across keys. The rank: a 1-D config has no second axis (0 in the
  // struct's second fields), and a key left out takes its 1-D default.
  cfg->rank = axes.modes == 0 ? 2 : axes.modes;
  const char* per_axis = cfg->rank == 1   ? "one value (a 1-D model)"
                         : cfg->rank == 2 ? "two values (a 2-D model)"
                                          : "three values (a 3-D model)";
  for (const auto& [name, count] : {std::pair<const char*, int>{"resolution", axes.resolution},
                                    {"grid_domain", axes.grid_domain},
                                    {"domain_padding_fraction", axes.padding_fraction},
                                    {"domain_padding_axes", axes.padding_axes}}) {
    if (count != 0 && count != cfg->rank) {
      *error = config_error(std::string(name) + " must have " + per_axis + ", like modes");
      return false;
    }
  }
  if (cfg->rank == 1) {
    cfg->modes2 = 0;
    cfg->resolution_w = 0;
    cfg->padding_fraction_w = 0;
  }
  if (cfg->rank == 3 && cfg->real_space_kernel) {
    *error = config_error(
        "a 3-D model is an FNO: real_space_kernel must be false (no 3x3x3 Winograd convolution)");
    return false;
  }
  if (!cfg->activation_gelu && cfg->block_neuralop) {
    *error = config_error("block \"neuralop\" is GELU throughout: activation must be gelu");
    return false;
  }
  if (axes.padding_axes > 0 && cfg->domain_padding != 0) {
    *error = config_error("domain_padding and domain_padding_axes exclude each other");
    return false;
  }
  if (axes.padding_axes > 0 && (cfg->padding_fraction_h > 0 || cfg->padding_fraction_w > 0)) {
    *error = config_error("domain_padding_axes and domain_padding_fraction exclude each other");
    return false;
  }
  if (cfg->channel_mlp_width > 0 && !cfg->block_neuralop) {
    *error = config_error("a channel MLP (channel_mlp_width > 0) is part of block \"neuralop\"");
    return false;
  }
  if (cfg->channel_mlp_skip && cfg->channel_mlp_width == 0) {
    *error = config_error("channel_mlp_skip needs a channel MLP (channel_mlp_width > 0)");
    return false;
  }
  if ((cfg->padding_fraction_h > 0 || cfg->padding_fraction_w > 0) && cfg->domain_padding != 0) {
    *error = config_error("domain_padding and domain_padding_fraction exclude each other");
    return false;
  }
  return true;
}

}  // namespace wno::engine
