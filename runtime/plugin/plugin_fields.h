// WinogradConv plugin fields: names, parsing and validation of a field collection, and the
// serialisation format of a built engine.
//
// Pure C++17 with no TensorRT dependency, so the host tests drive exactly this code. FieldView
// has the members of nvinfer1::PluginField in the same order and FieldType the values of
// nvinfer1::PluginFieldType; winograd_conv_creator.cpp checks both with static_asserts and
// converts a PluginFieldCollection field by field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wno/contract.h"

namespace wno {
namespace trt {

// Name == ONNX op_type (the ONNX parser looks plugins up by it), version == the node's
// plugin_version attribute, namespace == its plugin_namespace attribute.
inline constexpr const char* kPluginName = contract::kOpName;
inline constexpr const char* kPluginVersion = contract::kPluginVersion;
inline constexpr const char* kPluginNamespace = contract::kPluginNamespace;

inline constexpr char kFieldTile[] = "tile";
inline constexpr char kFieldPadding[] = "padding";

enum class FieldType : int32_t {
  kFloat16 = 0,
  kFloat32 = 1,
  kFloat64 = 2,
  kInt8 = 3,
  kInt16 = 4,
  kInt32 = 5,
  kChar = 6,
  kDims = 7,
  kUnknown = 8,
  kBf16 = 9,
  kInt64 = 10,
};

struct FieldView {
  const char* name;
  const void* data;
  FieldType type;
  int32_t length;
};

// The plugin's whole creation state.
struct ConvParams {
  int32_t tile{0};      // output tile m of F(m x m, 3 x 3): 2, 4 or 6
  int32_t padding{-1};  // 0 or 1 on every side
};

enum class FieldStatus : int32_t {
  kOk = 0,
  kNullCollection = 1,  // fields == nullptr with count > 0, or count < 0
  kMissing = 2,         // tile or padding absent
  kWrongType = 3,       // not an integer field
  kWrongLength = 4,     // not exactly one element, or no data
  kOutOfRange = 5,      // tile not in {2, 4, 6} or padding not in {0, 1}
  kDuplicate = 6,       // the same field twice
};

struct FieldParse {
  FieldStatus status{FieldStatus::kOk};
  std::string message;               // why, when status != kOk
  std::vector<std::string> ignored;  // unknown fields, skipped (for a verbose log line)
};

bool valid_tile(int64_t tile) noexcept;
bool valid_padding(int64_t padding) noexcept;

// Reads tile and padding. Integer fields of any width (kINT8/16/32/64) with exactly one element
// are accepted; the ONNX parser sends kINT32. plugin_version and plugin_namespace (consumed by
// the parser) and unknown fields are skipped. Never throws anything but std::bad_alloc.
FieldParse parse_fields(const FieldView* fields, int32_t count, ConvParams& params);

// The serialisation format: exactly these fields, both kINT32 with one element, in this order.
// The views point into `params`, which must outlive them. Returns the number of fields written
// (kSerializedFieldCount), or 0 if capacity is too small.
inline constexpr int32_t kSerializedFieldCount = 2;
int32_t serialize_fields(const ConvParams& params, FieldView* out, int32_t capacity) noexcept;

// "tile=4,padding=1": the timing-cache ID and metadata string of a plugin.
std::string describe(const ConvParams& params);

const char* field_status_name(FieldStatus status) noexcept;

}  // namespace trt
}  // namespace wno
