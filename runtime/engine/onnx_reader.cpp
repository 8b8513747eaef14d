#include "onnx_reader.h"

#include <cstring>

namespace wno::engine {

bool ProtoReader::varint(std::uint64_t* v) {
  std::uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p_ == end_) {
      error_ = "truncated varint";
      return false;
    }
    const std::uint8_t b = *p_++;
    value |= static_cast<std::uint64_t>(b & 0x7F) << shift;
    if (b < 0x80) {
      *v = value;
      return true;
    }
  }
  error_ = "varint longer than 10 bytes";
  return false;
}

bool ProtoReader::next(std::uint32_t* field, std::uint32_t* wire, std::uint64_t* value,
                       Bytes* bytes) {
  std::uint64_t tag = 0;
  if (!varint(&tag)) return false;
  if ((tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFF) {
    error_ = "invalid field number";
    return false;
  }
  *field = static_cast<std::uint32_t>(tag >> 3);
  *wire = static_cast<std::uint32_t>(tag & 7);
  *value = 0;
  *bytes = Bytes{};
  const std::size_t left = static_cast<std::size_t>(end_ - p_);
  switch (*wire) {
    case kVarint:
      return varint(value);
    case kFixed64:
    case kFixed32: {
      const std::size_t n = *wire == kFixed64 ? 8 : 4;
      if (left < n) {
        error_ = "truncated fixed-size field";
        return false;
      }
      std::uint64_t v = 0;
      for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(p_[i]) << (8 * i);
      p_ += n;
      *value = v;
      return true;
    }
    case kLength: {
      std::uint64_t n = 0;
      if (!varint(&n)) return false;
      if (n > static_cast<std::uint64_t>(end_ - p_)) {
        error_ = "field runs past the end of its message";
        return false;
      }
      *bytes = Bytes{p_, static_cast<std::size_t>(n)};
      p_ += n;
      return true;
    }
    default:
      error_ = "unsupported wire type (groups or corrupt data)";
      return false;
  }
}

namespace {

struct Parser {
  std::string* error;

  bool fail(const char* where, const char* what) {
    *error = std::string(where) + ": " + (what ? what : "malformed");
    return false;
  }

  // Repeated int64: packed (length-delimited) or one varint per field.
  bool int64s(std::uint32_t wire, std::uint64_t value, Bytes bytes, std::vector<std::int64_t>* out,
              const char* where) {
    if (wire == ProtoReader::kVarint) {
      out->push_back(static_cast<std::int64_t>(value));
      return out->size() <= 64 || fail(where, "too many values");
    }
    if (wire != ProtoReader::kLength) return fail(where, "unexpected wire type");
    const std::uint8_t* p = bytes.data;
    const std::uint8_t* const end = bytes.data + bytes.size;
    while (p != end) {
      std::uint64_t v = 0;
      bool ok = false;
      for (int shift = 0; shift < 64 && p != end;) {
        const std::uint8_t b = *p++;
        v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
        shift += 7;
        if (b < 0x80) {
          ok = true;
          break;
        }
      }
      if (!ok) return fail(where, "truncated packed varint");
      out->push_back(static_cast<std::int64_t>(v));
      if (out->size() > 64) return fail(where, "too many values");
    }
    return true;
  }

  static float float_bits(std::uint32_t bits) {
    float x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
  }

  // Repeated float: packed (length-delimited fixed32s) or one fixed32 per field.
  bool float32s(std::uint32_t wire, std::uint64_t value, Bytes bytes, std::vector<float>* out,
                const char* where) {
    if (wire == ProtoReader::kFixed32) {
      out->push_back(float_bits(static_cast<std::uint32_t>(value)));
      return out->size() <= 64 || fail(where, "too many values");
    }
    if (wire != ProtoReader::kLength) return fail(where, "unexpected wire type");
    if (bytes.size % 4 != 0) return fail(where, "packed floats are not a multiple of 4 bytes");
    if (out->size() + bytes.size / 4 > 64) return fail(where, "too many values");
    for (std::size_t k = 0; k < bytes.size; k += 4) {
      std::uint32_t bits = 0;
      for (int i = 0; i < 4; ++i) bits |= static_cast<std::uint32_t>(bytes.data[k + i]) << (8 * i);
      out->push_back(float_bits(bits));
    }
    return true;
  }

  // TensorShapeProto.Dimension: dim_value (1) or dim_param (2); -1 unless a dim_value is set.
  bool dimension(Bytes b, std::int64_t* d) {
    ProtoReader r(b);
    std::uint32_t f, w;
    std::uint64_t v;
    Bytes s;
    *d = -1;
    while (!r.done()) {
      if (!r.next(&f, &w, &v, &s)) return fail("graph input/output dim", r.error());
      if (f == 1 && w == ProtoReader::kVarint) *d = static_cast<std::int64_t>(v);
      if (f == 2 && w == ProtoReader::kLength) *d = -1;  // the oneof's last member wins
    }
    if (*d < 0) *d = -1;
    return true;
  }

  // ValueInfoProto: name (1), type (2) -> TypeProto.tensor_type (1) -> elem_type (1), shape (2)
  // -> TensorShapeProto.dim (1).
  bool value_info(Bytes b, ValueInfo* vi) {
    ProtoReader r(b);
    std::uint32_t f, w;
    std::uint64_t v;
    Bytes s;
    while (!r.done()) {
      if (!r.next(&f, &w, &v, &s)) return fail("graph input/output", r.error());
      if (f == 1 && w == ProtoReader::kLength) vi->name = s.str();
      if (f != 2 || w != ProtoReader::kLength) continue;
      ProtoReader type(s);
      while (!type.done()) {
        if (!type.next(&f, &w, &v, &s)) return fail("graph input/output type", type.error());
        if (f != 1 || w != ProtoReader::kLength) continue;
        ProtoReader tensor(s);
        while (!tensor.done()) {
          if (!tensor.next(&f, &w, &v, &s)) return fail("graph input/output type", tensor.error());
          if (f == 1 && w == ProtoReader::kVarint) vi->elem_type = static_cast<int>(v);
          if (f != 2 || w != ProtoReader::kLength) continue;
          vi->has_shape = true;
          vi->dims.clear();  // the last shape wins
          ProtoReader shape(s);
          while (!shape.done()) {
            if (!shape.next(&f, &w, &v, &s)) return fail("graph input/output shape", shape.error());
            if (f != 1 || w != ProtoReader::kLength) continue;
            if (vi->dims.size() >= 64) return fail("graph input/output shape", "too many dims");
            vi->dims.emplace_back();
            if (!dimension(s, &vi->dims.back())) return false;
          }
        }
      }
    }
    return true;
  }

  // FunctionProto: name (1), input (4), output (5), attribute (6), node (7), opset_import (9),
  // domain (10).
  bool function(Bytes b, Function* fn) {
    ProtoReader r(b);
    std::uint32_t f, w;
    std::uint64_t v;
    Bytes s;
    while (!r.done()) {
      if (!r.next(&f, &w, &v, &s)) return fail("function", r.error());
      if (w != ProtoReader::kLength) continue;
      switch (f) {
        case 1:
          fn->name = s.str();
          break;
        case 4:
          fn->inputs.push_back(s.str());
          break;
        case 5:
          fn->outputs.push_back(s.str());
          break;
        case 6:
          fn->attributes.push_back(s.str());
          break;
        case 7:
          if (fn->nodes.size() >= 100000) return fail("function", "too many nodes");
          fn->nodes.emplace_back();
          if (!node(s, &fn->nodes.back())) return false;
          break;
        case 9: {
          OpsetId id;
          if (!pair(s, &id.domain, nullptr, &id.version, "function opset_import")) return false;
          fn->opsets.push_back(id);
          break;
        }
        case 10:
          fn->domain = s.str();
          break;
        default:
          break;
      }
    }
    return true;
  }

  bool tensor(Bytes b, Tensor* t) {
    ProtoReader r(b);
    std::uint32_t f, w;
    std::uint64_t v;
    Bytes s;
    Bytes float_data, int64_data, raw;
    bool has_raw = false;
    while (!r.done()) {
      if (!r.next(&f, &w, &v, &s)) return fail("initializer", r.error());
      switch (f) {
        case 1:
          if (!int64s(w, v, s, &t->dims, "initializer dims")) return false;
          break;
        case 2:
          if (w != ProtoReader::kVarint) return fail("initializer", "bad data_type");
          t->data_type = static_cast<int>(v);
          break;
        case 4:
          if (w == ProtoReader::kLength)
            float_data = s;
          else
            return fail("initializer", "unpacked float_data is not supported");
          break;
        case 7:
          if (w == ProtoReader::kLength) int64_data = s;
          break;
        case 8:
          if (w != ProtoReader::kLength) return fail("initializer", "bad name");
          t->name = s.str();
          break;
        case 9:
          if (w != ProtoReader::kLength) return fail("initializer", "bad raw_data");
          raw = s;
          has_raw = true;
          break;
        case 13:
        case 14:
          if (f == 13 || v != 0) t->external = true;
          break;
        default:
          break;
      }
    }
    t->data = has_raw ? raw : (float_data.size ? float_data : int64_data);
    t->data_field = has_raw ? 9 : (float_data.size ? 4 : (int64_data.size ? 7 : 0));
    return true;
  }

  bool attribute(Bytes b, Attribute* a) {
    ProtoReader r(b);
    std::uint32_t f, w;
    std::uint64_t v;
    Bytes s;
    while (!r.done()) {
      if (!r.next(&f, &w, &v, &s)) return fail("node attribute", r.error());
      if (f == 1 && w == ProtoReader::kLength) a->name = s.str();
      if (f == 2 && w == ProtoReader::kFixed32) a->f = float_bits(static_cast<std::uint32_t>(v));
      if (f == 3 && w == ProtoReader::kVarint) a->i = static_cast<std::int64_t>(v);
      if (f == 4 && w == ProtoReader::kLength) a->s = s.str();
      if (f == 7 && !float32s(w, v, s, &a->floats, "node attribute floats")) return false;
      if (f == 8 && !int64s(w, v, s, &a->ints, "node attribute ints")) return false;
      if (f == 20 && w == ProtoReader::kVarint) a->type = static_cast<int>(v);
      if (f == 21 && w == ProtoReader::kLength) a->ref_attr_name = s.str();
    }
    return true;
  }

  bool node(Bytes b, Node* n) {
    ProtoReader r(b);
    std::uint32_t f, w;
    std::uint64_t v;
    Bytes s;
    while (!r.done()) {
      if (!r.next(&f, &w, &v, &s)) return fail("node", r.error());
      if (w != ProtoReader::kLength) continue;
      switch (f) {
        case 1:
          n->inputs.push_back(s.str());
          break;
        case 2:
          n->outputs.push_back(s.str());
          break;
        case 3:
          n->name = s.str();
          break;
        case 4:
          n->op_type = s.str();
          break;
        case 5:
          n->attributes.emplace_back();
          if (!attribute(s, &n->attributes.back())) return false;
          break;
        case 7:
          n->domain = s.str();
          break;
        default:
          break;
      }
    }
    return true;
  }

  bool graph(Bytes b, ModelFile* m) {
    ProtoReader r(b);
    std::uint32_t f, w;
    std::uint64_t v;
    Bytes s;
    while (!r.done()) {
      if (!r.next(&f, &w, &v, &s)) return fail("graph", r.error());
      if (w != ProtoReader::kLength) continue;
      if (f == 1) {
        if (m->nodes.size() >= 100000) return fail("graph", "too many nodes");
        m->nodes.emplace_back();
        if (!node(s, &m->nodes.back())) return false;
      } else if (f == 5) {
        if (m->initializers.size() >= 100000) return fail("graph", "too many initializers");
        m->initializers.emplace_back();
        if (!tensor(s, &m->initializers.back())) return false;
      } else if (f == 11 || f == 12) {
        std::vector<ValueInfo>& list = f == 11 ? m->inputs : m->outputs;
        if (list.size() >= 100000) return fail("graph", "too many inputs or outputs");
        list.emplace_back();
        if (!value_info(s, &list.back())) return false;
      } else if (f == 15) {
        m->sparse_initializers = true;
      }
    }
    return true;
  }

  bool pair(Bytes b, std::string_view* k, std::string_view* val, std::int64_t* version,
            const char* where) {
    ProtoReader r(b);
    std::uint32_t f, w;
    std::uint64_t v;
    Bytes s;
    while (!r.done()) {
      if (!r.next(&f, &w, &v, &s)) return fail(where, r.error());
      if (f == 1 && w == ProtoReader::kLength) *k = s.str();
      if (f == 2 && w == ProtoReader::kLength && val) *val = s.str();
      if (f == 2 && w == ProtoReader::kVarint && version) *version = static_cast<std::int64_t>(v);
    }
    return true;
  }
};

}  // namespace

long long Tensor::elements() const {
  long long n = 1;
  for (const std::int64_t d : dims) {
    if (d < 0 || d > (1LL << 31)) return -1;
    n *= d;
    if (n > (1LL << 34)) return -1;
  }
  return n;
}

const Attribute* Node::find(std::string_view attr_name) const {
  for (const Attribute& a : attributes)
    if (a.name == attr_name) return &a;
  return nullptr;
}

const std::string_view* ModelFile::meta(std::string_view key) const {
  const std::string_view* found = nullptr;
  for (const auto& kv : metadata)
    if (kv.first == key) found = &kv.second;  // the last one wins, as in protobuf maps
  return found;
}

const Tensor* ModelFile::initializer(std::string_view name) const {
  for (const Tensor& t : initializers)
    if (t.name == name) return &t;
  return nullptr;
}

bool parse_model(const std::uint8_t* data, std::size_t size, ModelFile* out, std::string* error) {
  Parser p{error};
  ProtoReader r(data, size);
  std::uint32_t f, w;
  std::uint64_t v;
  Bytes s;
  if (size == 0) return p.fail("model", "empty file");
  while (!r.done()) {
    if (!r.next(&f, &w, &v, &s)) return p.fail("model", r.error());
    if (f == 1 && w == ProtoReader::kVarint) out->ir_version = static_cast<std::int64_t>(v);
    if (w != ProtoReader::kLength) continue;
    if (f == 2) out->producer = s.str();
    if (f == 7) {
      if (++out->graphs > 1) return p.fail("model", "more than one graph");
      if (!p.graph(s, out)) return false;
    }
    if (f == 8) {
      OpsetId id;
      if (!p.pair(s, &id.domain, nullptr, &id.version, "opset_import")) return false;
      out->opsets.push_back(id);
    }
    if (f == 25) {
      if (out->functions.size() >= 10000) return p.fail("model", "too many functions");
      out->functions.emplace_back();
      if (!p.function(s, &out->functions.back())) return false;
    }
    if (f == 14) {
      std::string_view k, val;
      if (!p.pair(s, &k, &val, nullptr, "metadata_props")) return false;
      out->metadata.emplace_back(k, val);
    }
  }
  return true;
}

namespace {
struct CrcTable {
  std::uint32_t t[256];
  CrcTable() {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
  }
};
}  // namespace

std::uint32_t crc32(std::uint32_t crc, const void* data, std::size_t size) {
  static const CrcTable table;
  const std::uint8_t* p = static_cast<const std::uint8_t*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = table.t[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

std::uint32_t weights_checksum(const ModelFile& m, void (*after_tensor)(Bytes, void*), void* ctx) {
  std::uint32_t crc = 0;
  for (const Tensor& t : m.initializers) {
    crc = crc32(crc, t.name.data(), t.name.size());
    for (const std::int64_t d : t.dims) {
      std::uint8_t le[8];
      for (int i = 0; i < 8; ++i)
        le[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(d) >> (8 * i));
      crc = crc32(crc, le, 8);
    }
    crc = crc32(crc, t.data.data, t.data.size);
    if (after_tensor) after_tensor(t.data, ctx);
  }
  return crc;
}

}  // namespace wno::engine
