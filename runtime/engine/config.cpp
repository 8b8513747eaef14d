#include "config.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>

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

// JSON values a flat WNOConfig holds: integer, true/false, null, [int, int].
struct Value {
  enum Kind { kInt, kBool, kNull, kPair, kString, kNumbers } kind = kNull;
  std::string_view s;
  std::int64_t i = 0, j = 0;
  bool b = false;
};

class Json {
 public:
  explicit Json(std::string_view s) : s_(s) {}

  bool object(WnoConfig* cfg, std::string* error, bool* unsupported) {
    ws();
    if (!eat('{')) return fail(error, "expected '{'");
    ws();
    unsigned seen = 0;
    if (!eat('}')) {
      for (;;) {
        std::string_view key;
        Value v;
        ws();
        if (!string(&key)) return fail(error, "expected a quoted key");
        ws();
        if (!eat(':')) return fail(error, "expected ':'");
        ws();
        if (!value(&v)) return fail(error, "unsupported value");
        const int bit = assign(key, v, cfg, error, unsupported);
        if (bit < 0) return false;
        if (seen & (1u << bit)) return fail(error, "duplicate key");
        seen |= 1u << bit;
        ws();
        if (eat(',')) continue;
        if (eat('}')) break;
        return fail(error, "expected ',' or '}'");
      }
    }
    ws();
    if (i_ != s_.size()) return fail(error, "trailing characters");
    if (!(seen & 1u) || !(seen & 2u)) return fail(error, "missing in_channels or out_channels");
    return true;
  }

 private:
  bool fail(std::string* error, const char* what) {
    if (error->empty()) *error = config_error(what);
    return false;
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool word(std::string_view w) {
    if (s_.substr(i_, w.size()) == w) {
      i_ += w.size();
      return true;
    }
    return false;
  }
  bool string(std::string_view* out) {  // keys only: plain ASCII, no escapes
    if (!eat('"')) return false;
    const std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] != '"') {
      const unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '\\' || c < 0x20 || c >= 0x80) return false;
      ++i_;
    }
    if (i_ == s_.size()) return false;
    *out = s_.substr(start, i_ - start);
    ++i_;
    return true;
  }
  bool integer(std::int64_t* v) {
    bool neg = eat('-');
    std::int64_t x = 0;
    int digits = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      if (++digits > 12) return false;  // far beyond every bound
      x = x * 10 + (s_[i_++] - '0');
    }
    if (digits == 0) return false;
    if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) return false;
    *v = neg ? -x : x;
    return true;
  }
  bool value(Value* v) {
    if (word("true")) {
      v->kind = Value::kBool;
      v->b = true;
      return true;
    }
    if (word("false")) {
      v->kind = Value::kBool;
      return true;
    }
    if (word("null")) return true;
    if (i_ < s_.size() && s_[i_] == '"') {
      v->kind = Value::kString;
      return string(&v->s);
    }
    if (i_ + 1 < s_.size() && s_[i_] == '[' && (s_[i_ + 1] == '[' || nested_ahead())) {
      v->kind = Value::kNumbers;
      return numbers(0);
    }
    if (i_ < s_.size() && s_[i_] == '[' && !int_pair_ahead()) {  // [0.125, 0.25]: numbers
      const std::size_t start = i_;
      v->kind = Value::kNumbers;
      if (!numbers(0)) return false;
      v->s = s_.substr(start, i_ - start);
      return true;
    }
    if (eat('[')) {
      ws();
      if (!integer(&v->i)) return false;
      ws();
      if (!eat(',')) return false;
      ws();
      if (!integer(&v->j)) return false;
      ws();
      v->kind = Value::kPair;
      return eat(']');
    }
    v->kind = Value::kInt;
    return integer(&v->i);
  }

  // '[' then only digits, '-', ',' and blanks up to ']': an integer pair (else numbers).
  bool int_pair_ahead() const {
    for (std::size_t j = i_ + 1; j < s_.size(); ++j) {
      const char ch = s_[j];
      if (ch == ']') return true;
      if (!((ch >= '0' && ch <= '9') || ch == '-' || ch == ',' || ch == ' ' || ch == '\n' ||
            ch == '\t' || ch == '\r'))
        return false;
    }
    return false;
  }
  // '[' followed (after blanks) by '[': a nested array.
  bool nested_ahead() const {
    std::size_t j = i_ + 1;
    while (j < s_.size() && (s_[j] == ' ' || s_[j] == '\n' || s_[j] == '\t' || s_[j] == '\r')) ++j;
    return j < s_.size() && s_[j] == '[';
  }
  // A JSON number of any form (grid coordinates); only its syntax is checked.
  bool number() {
    const std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] != '\0' &&
           (std::strchr("+-.eE", s_[i_]) || (s_[i_] >= '0' && s_[i_] <= '9')))
      ++i_;
    return i_ > start && i_ - start < 40;
  }
  // Nested arrays of numbers, at most 4 deep (grid_domain: [[x0, x1], [y0, y1]]).
  bool numbers(int depth) {
    if (depth > 4 || !eat('[')) return false;
    ws();
    if (eat(']')) return true;
    for (int n = 0; n < 64; ++n) {
      ws();
      if (i_ < s_.size() && s_[i_] == '[' ? !numbers(depth + 1) : !number()) return false;
      ws();
      if (eat(']')) return true;
      if (!eat(',')) return false;
    }
    return false;
  }

  // The key's bit (for duplicates), or -1 after setting *error.
  int assign(std::string_view key, const Value& v, WnoConfig* c, std::string* error,
             bool* unsupported) {
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
        // the smallest to the largest tile (the engine checks each WinogradConv node's own tile)
        {"winograd_tile", &c->winograd_tile, contract::kTiles[0],
         contract::kTiles[std::size(contract::kTiles) - 1]},
        {"domain_padding", &c->domain_padding, 0, contract::kMaxResolution},
        {"projection_width", &c->projection_width, 1, contract::kMaxWidth},
    };
    int bit = 0;
    for (const IntKey& k : ints) {
      if (key == k.name) {
        if (v.kind != Value::kInt || v.i < k.lo || v.i > k.hi) {
          *error = config_error(std::string(k.name) + " out of range or not an integer");
          return -1;
        }
        *k.field = static_cast<int>(v.i);
        return bit;
      }
      ++bit;
    }
    if (key == "modes") {
      if (v.kind != Value::kPair || v.i < 1 || v.j < 1 || v.i > contract::kMaxModes ||
          v.j > contract::kMaxModes) {
        *error = config_error("modes must be two integers in [1, " +
                              std::to_string(contract::kMaxModes) + "]");
        return -1;
      }
      c->modes1 = static_cast<int>(v.i);
      c->modes2 = static_cast<int>(v.j);
      return bit;
    }
    ++bit;
    if (key == "resolution") {
      if (v.kind == Value::kNull) return bit;
      if (v.kind != Value::kPair || v.i < 1 || v.j < 1 || v.i > contract::kMaxResolution ||
          v.j > contract::kMaxResolution) {
        *error = config_error("resolution must be null or two positive integers");
        return -1;
      }
      c->resolution_h = static_cast<int>(v.i);
      c->resolution_w = static_cast<int>(v.j);
      return bit;
    }
    ++bit;
    for (const auto& k : {std::pair<const char*, bool*>{"real_space_kernel", &c->real_space_kernel},
                          std::pair<const char*, bool*>{"grid", &c->grid}}) {
      if (key == k.first) {
        if (v.kind != Value::kBool) {
          *error = config_error(std::string(k.first) + " must be true or false");
          return -1;
        }
        *k.second = v.b;
        return bit;
      }
      ++bit;
    }
    // The grid's coordinates are baked into the lift constant (lift.bias_and_grid): these keys
    // are checked for form only.
    if (key == "grid_domain") {
      if (v.kind != Value::kNumbers) {
        *error = config_error("grid_domain must be [[x0, x1], [y0, y1]]");
        return -1;
      }
      return bit;
    }
    ++bit;
    if (key == "grid_points") {
      bool known = false;
      for (const char* name : contract::kGridPoints)
        known |= v.kind == Value::kString && v.s == name;
      if (!known) {
        *error = config_error("grid_points must be " + grid_points_text());
        return -1;
      }
      return bit;
    }
    ++bit;
    return assign_neuralop(key, v, c, error, unsupported, bit);
  }

  // neuraloperator's block (WNOConfig.block / lifting_width / channel_mlp_* /
  // domain_padding_fraction); bits from `bit` on.
  int assign_neuralop(std::string_view key, const Value& v, WnoConfig* c, std::string* error,
                      bool* unsupported, int bit) {
    if (key == "block") {
      if (v.kind != Value::kString || (v.s != "wno" && v.s != "neuralop")) {
        *unsupported = v.kind == Value::kString;
        *error = "unsupported model: block \"" + std::string(v.s) +
                 "\" (this engine runs wno, neuralop)";
        return -1;
      }
      c->block_neuralop = v.s == "neuralop";
      return bit;
    }
    ++bit;
    for (const auto& k :
         {std::pair<const char*, int*>{"lifting_width", &c->lifting_width},
          std::pair<const char*, int*>{"channel_mlp_width", &c->channel_mlp_width}}) {
      if (key == k.first) {
        if (v.kind != Value::kInt || v.i < 0 || v.i > contract::kMaxWidth) {
          *error = config_error(std::string(k.first) + " out of range or not an integer");
          return -1;
        }
        *k.second = static_cast<int>(v.i);
        return bit;
      }
      ++bit;
    }
    if (key == "channel_mlp_skip") {
      if (v.kind != Value::kBool) {
        *error = config_error("channel_mlp_skip must be true or false");
        return -1;
      }
      c->channel_mlp_skip = v.b;
      return bit;
    }
    ++bit;
    if (key == "domain_padding_fraction") {
      double f[2] = {0, 0};
      if (!fraction_pair(v, f)) {
        *error = config_error("domain_padding_fraction must be two numbers in [0, " +
                              number_text(contract::kMaxPaddingFraction) + "]");
        return -1;
      }
      c->padding_fraction_h = f[0];
      c->padding_fraction_w = f[1];
      return bit;
    }
    *unsupported = true;
    *error = config_error("unknown key \"" + std::string(key) +
                          "\" (a newer wno-edge format: update the engine)");
    return -1;
  }

  static bool fraction_pair(const Value& v, double f[2]) {
    if (v.kind == Value::kPair) {
      f[0] = static_cast<double>(v.i);
      f[1] = static_cast<double>(v.j);
    } else if (v.kind == Value::kNumbers) {
      const std::string text(v.s);  // "[a, b]"
      const char* p = text.c_str() + 1;
      char* end = nullptr;
      f[0] = std::strtod(p, &end);
      if (end == p) return false;
      p = end;
      while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') ++p;
      if (*p++ != ',') return false;
      f[1] = std::strtod(p, &end);
      if (end == p) return false;
      p = end;
      while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') ++p;
      if (*p != ']' || p[1] != '\0') return false;
    } else {
      return false;
    }
    constexpr double hi = contract::kMaxPaddingFraction;
    return f[0] >= 0 && f[0] <= hi && f[1] >= 0 && f[1] <= hi;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

bool parse_config(std::string_view json, WnoConfig* cfg, std::string* error, bool* unsupported) {
  *unsupported = false;
  error->clear();
  Json j(json);
  return j.object(cfg, error, unsupported);
}

}  // namespace wno::engine
