// The few fields of an ONNX ModelProto the engine needs, read by a small bounds-checked
// protobuf reader (no protobuf dependency: ~200 lines that are easy to fuzz, no generated code,
// nothing allocated per field; every length is checked against the bytes that remain).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wno::engine {

// A length-delimited span of the file (valid while the file's bytes are).
struct Bytes {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::string_view str() const { return {reinterpret_cast<const char*>(data), size}; }
};

// Protobuf wire format: one field at a time, never past `end`.
class ProtoReader {
 public:
  ProtoReader(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
  explicit ProtoReader(Bytes b) : ProtoReader(b.data, b.size) {}

  bool done() const { return p_ == end_; }
  // Reads the next field: its number, wire type and value (varint / fixed in `value`, the
  // span for length-delimited). False (with error()) on malformed or truncated input.
  bool next(std::uint32_t* field, std::uint32_t* wire, std::uint64_t* value, Bytes* bytes);
  const char* error() const { return error_; }

  static constexpr std::uint32_t kVarint = 0, kFixed64 = 1, kLength = 2, kFixed32 = 5;

 private:
  bool varint(std::uint64_t* v);
  const std::uint8_t* p_;
  const std::uint8_t* end_;
  const char* error_ = nullptr;
};

// ONNX TensorProto.DataType values the engine reads.
constexpr int kFloat = 1, kInt64 = 7, kFloat16 = 10;

struct Tensor {
  std::string_view name;
  std::vector<std::int64_t> dims;
  int data_type = 0;
  Bytes data;  // raw_data, or the packed float_data / int64_data field bytes (see data_field)
  bool external = false;
  // Which field `data` came from: 9 raw_data (little-endian), 4 float_data (packed fixed32,
  // little-endian), 7 int64_data (packed varints: decode them), 0 none.
  int data_field = 0;
  long long elements() const;  // product of dims, -1 on overflow or a negative dim
};

struct Attribute {
  std::string_view name;
  int type = 0;  // AttributeProto.AttributeType: 1 FLOAT, 2 INT, 3 STRING, 6 FLOATS, 7 INTS
  float f = 0.0f;
  std::int64_t i = 0;
  std::string_view s;
  std::vector<float> floats;  // at most 64, like ints
  std::vector<std::int64_t> ints;
  std::string_view ref_attr_name;  // in a function body: a reference to the caller's attribute
};

struct Node {
  std::string_view op_type, domain, name;
  std::vector<std::string_view> inputs, outputs;
  std::vector<Attribute> attributes;
  const Attribute* find(std::string_view attr_name) const;
};

struct OpsetId {
  std::string_view domain;
  std::int64_t version = 0;
};

// A graph input or output (ValueInfoProto with a tensor type).
struct ValueInfo {
  std::string_view name;
  int elem_type = 0;               // TensorProto.DataType; 0 when absent
  bool has_shape = false;          // TypeProto.Tensor.shape present
  std::vector<std::int64_t> dims;  // dim_value, or -1 for a dim_param / unset dim (at most 64)
};

// A model-local function (FunctionProto): what ONNX Runtime runs for a node of (domain, name).
struct Function {
  std::string_view name, domain;
  std::vector<std::string_view> inputs, outputs, attributes;
  std::vector<Node> nodes;
  std::vector<OpsetId> opsets;
};

struct ModelFile {
  std::int64_t ir_version = 0;
  std::string_view producer;
  std::vector<OpsetId> opsets;
  std::vector<std::pair<std::string_view, std::string_view>> metadata;
  std::vector<Tensor> initializers;  // graph order
  std::vector<Node> nodes;
  std::vector<ValueInfo> inputs, outputs;  // graph order
  std::vector<Function> functions;         // model order
  bool sparse_initializers = false;        // the graph has sparse_initializer entries
  int graphs = 0;

  const std::string_view* meta(std::string_view key) const;
  const Tensor* initializer(std::string_view name) const;
};

// Parses `data` (which must outlive the result). False with a message on any malformed input.
bool parse_model(const std::uint8_t* data, std::size_t size, ModelFile* out, std::string* error);

// CRC-32 (zlib, reflected 0xEDB88320), continuing from `crc` (0 to start).
std::uint32_t crc32(std::uint32_t crc, const void* data, std::size_t size);
// The exporter's weight checksum: over every initializer in graph order, CRC-32 of its name
// bytes, its dims as little-endian int64, its data bytes. after_tensor (if not null) is called
// with each tensor's data once it is summed (the engine drops mapped file pages behind it).
std::uint32_t weights_checksum(const ModelFile& m, void (*after_tensor)(Bytes, void*) = nullptr,
                               void* ctx = nullptr);

}  // namespace wno::engine
