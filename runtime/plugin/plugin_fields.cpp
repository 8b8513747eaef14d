#include "plugin_fields.h"

#include <cstring>

namespace wno {
namespace trt {
namespace {

bool is_integer_type(FieldType type) noexcept {
  return type == FieldType::kInt8 || type == FieldType::kInt16 || type == FieldType::kInt32 ||
         type == FieldType::kInt64;
}

template <typename T>
int64_t load(const void* data) noexcept {
  T value{};
  std::memcpy(&value, data, sizeof(T));  // field data carries no alignment promise
  return static_cast<int64_t>(value);
}

int64_t read_integer(const FieldView& field) noexcept {
  switch (field.type) {
    case FieldType::kInt8:
      return load<int8_t>(field.data);
    case FieldType::kInt16:
      return load<int16_t>(field.data);
    case FieldType::kInt32:
      return load<int32_t>(field.data);
    case FieldType::kInt64:
      return load<int64_t>(field.data);
    default:
      return 0;
  }
}

const char* type_name(FieldType type) noexcept {
  switch (type) {
    case FieldType::kFloat16:
      return "kFLOAT16";
    case FieldType::kFloat32:
      return "kFLOAT32";
    case FieldType::kFloat64:
      return "kFLOAT64";
    case FieldType::kInt8:
      return "kINT8";
    case FieldType::kInt16:
      return "kINT16";
    case FieldType::kInt32:
      return "kINT32";
    case FieldType::kChar:
      return "kCHAR";
    case FieldType::kDims:
      return "kDIMS";
    case FieldType::kUnknown:
      return "kUNKNOWN";
    case FieldType::kBf16:
      return "kBF16";
    case FieldType::kInt64:
      return "kINT64";
  }
  return "an unknown type";
}

FieldParse failure(FieldStatus status, std::string message) {
  FieldParse result;
  result.status = status;
  result.message = std::move(message);
  return result;
}

}  // namespace

bool valid_tile(int64_t tile) noexcept { return contract::valid_tile(tile); }

bool valid_padding(int64_t padding) noexcept { return contract::valid_padding(padding); }

FieldParse parse_fields(const FieldView* fields, int32_t count, ConvParams& params) {
  if (count < 0 || (count > 0 && fields == nullptr)) {
    return failure(FieldStatus::kNullCollection, "no field collection");
  }
  FieldParse result;
  bool seen_tile = false;
  bool seen_padding = false;
  ConvParams parsed;
  for (int32_t i = 0; i < count; ++i) {
    const FieldView& field = fields[i];
    if (field.name == nullptr) {
      result.ignored.emplace_back("(unnamed)");
      continue;
    }
    const bool is_tile = std::strcmp(field.name, kFieldTile) == 0;
    const bool is_padding = std::strcmp(field.name, kFieldPadding) == 0;
    if (!is_tile && !is_padding) {
      // Forwarded by some parser versions; their meaning is the registry lookup itself.
      if (std::strcmp(field.name, "plugin_version") != 0 &&
          std::strcmp(field.name, "plugin_namespace") != 0) {
        result.ignored.emplace_back(field.name);
      }
      continue;
    }
    const std::string name = field.name;
    if ((is_tile && seen_tile) || (is_padding && seen_padding)) {
      return failure(FieldStatus::kDuplicate, "field '" + name + "' given twice");
    }
    if (!is_integer_type(field.type)) {
      return failure(
          FieldStatus::kWrongType,
          "field '" + name + "' must be an integer (kINT32), got " + type_name(field.type));
    }
    if (field.length != 1 || field.data == nullptr) {
      return failure(FieldStatus::kWrongLength,
                     "field '" + name + "' must hold exactly one value, got " +
                         (field.data == nullptr ? std::string("no data")
                                                : std::to_string(field.length) + " values"));
    }
    const int64_t value = read_integer(field);
    if (is_tile) {
      if (!valid_tile(value)) {
        return failure(FieldStatus::kOutOfRange,
                       "tile must be 2, 4 or 6, got " + std::to_string(value));
      }
      parsed.tile = static_cast<int32_t>(value);
      seen_tile = true;
    } else {
      if (!valid_padding(value)) {
        return failure(FieldStatus::kOutOfRange,
                       "padding must be 0 or 1, got " + std::to_string(value));
      }
      parsed.padding = static_cast<int32_t>(value);
      seen_padding = true;
    }
  }
  if (!seen_tile || !seen_padding) {
    return failure(FieldStatus::kMissing, std::string("required field '") +
                                              (seen_tile ? kFieldPadding : kFieldTile) +
                                              "' is missing");
  }
  params = parsed;
  return result;
}

int32_t serialize_fields(const ConvParams& params, FieldView* out, int32_t capacity) noexcept {
  if (out == nullptr || capacity < kSerializedFieldCount) {
    return 0;
  }
  out[0] = FieldView{kFieldTile, &params.tile, FieldType::kInt32, 1};
  out[1] = FieldView{kFieldPadding, &params.padding, FieldType::kInt32, 1};
  return kSerializedFieldCount;
}

std::string describe(const ConvParams& params) {
  return "tile=" + std::to_string(params.tile) + ",padding=" + std::to_string(params.padding);
}

const char* field_status_name(FieldStatus status) noexcept {
  switch (status) {
    case FieldStatus::kOk:
      return "ok";
    case FieldStatus::kNullCollection:
      return "null collection";
    case FieldStatus::kMissing:
      return "missing field";
    case FieldStatus::kWrongType:
      return "wrong field type";
    case FieldStatus::kWrongLength:
      return "wrong field length";
    case FieldStatus::kOutOfRange:
      return "value out of range";
    case FieldStatus::kDuplicate:
      return "duplicate field";
  }
  return "unknown status";
}

}  // namespace trt
}  // namespace wno
