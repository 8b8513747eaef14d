#include "plugin_fields.h"

#include <cstring>

namespace wno {
namespace trt {
namespace {

bool isIntegerType(FieldType type) noexcept {
  return type == FieldType::kINT8 || type == FieldType::kINT16 || type == FieldType::kINT32 ||
         type == FieldType::kINT64;
}

template <typename T>
int64_t load(const void* data) noexcept {
  T value{};
  std::memcpy(&value, data, sizeof(T));  // field data carries no alignment promise
  return static_cast<int64_t>(value);
}

int64_t readInteger(const FieldView& field) noexcept {
  switch (field.type) {
    case FieldType::kINT8:
      return load<int8_t>(field.data);
    case FieldType::kINT16:
      return load<int16_t>(field.data);
    case FieldType::kINT32:
      return load<int32_t>(field.data);
    case FieldType::kINT64:
      return load<int64_t>(field.data);
    default:
      return 0;
  }
}

const char* typeName(FieldType type) noexcept {
  switch (type) {
    case FieldType::kFLOAT16:
      return "kFLOAT16";
    case FieldType::kFLOAT32:
      return "kFLOAT32";
    case FieldType::kFLOAT64:
      return "kFLOAT64";
    case FieldType::kINT8:
      return "kINT8";
    case FieldType::kINT16:
      return "kINT16";
    case FieldType::kINT32:
      return "kINT32";
    case FieldType::kCHAR:
      return "kCHAR";
    case FieldType::kDIMS:
      return "kDIMS";
    case FieldType::kUNKNOWN:
      return "kUNKNOWN";
    case FieldType::kBF16:
      return "kBF16";
    case FieldType::kINT64:
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

bool validTile(int64_t tile) noexcept { return contract::valid_tile(tile); }

bool validPadding(int64_t padding) noexcept { return contract::valid_padding(padding); }

FieldParse parseFields(const FieldView* fields, int32_t count, ConvParams& params) {
  if (count < 0 || (count > 0 && fields == nullptr)) {
    return failure(FieldStatus::kNULL_COLLECTION, "no field collection");
  }
  FieldParse result;
  bool seenTile = false;
  bool seenPadding = false;
  ConvParams parsed;
  for (int32_t i = 0; i < count; ++i) {
    const FieldView& field = fields[i];
    if (field.name == nullptr) {
      result.ignored.emplace_back("(unnamed)");
      continue;
    }
    const bool isTile = std::strcmp(field.name, kFieldTile) == 0;
    const bool isPadding = std::strcmp(field.name, kFieldPadding) == 0;
    if (!isTile && !isPadding) {
      // Forwarded by some parser versions; their meaning is the registry lookup itself.
      if (std::strcmp(field.name, "plugin_version") != 0 &&
          std::strcmp(field.name, "plugin_namespace") != 0) {
        result.ignored.emplace_back(field.name);
      }
      continue;
    }
    const std::string name = field.name;
    if ((isTile && seenTile) || (isPadding && seenPadding)) {
      return failure(FieldStatus::kDUPLICATE, "field '" + name + "' given twice");
    }
    if (!isIntegerType(field.type)) {
      return failure(
          FieldStatus::kWRONG_TYPE,
          "field '" + name + "' must be an integer (kINT32), got " + typeName(field.type));
    }
    if (field.length != 1 || field.data == nullptr) {
      return failure(FieldStatus::kWRONG_LENGTH,
                     "field '" + name + "' must hold exactly one value, got " +
                         (field.data == nullptr ? std::string("no data")
                                                : std::to_string(field.length) + " values"));
    }
    const int64_t value = readInteger(field);
    if (isTile) {
      if (!validTile(value)) {
        return failure(FieldStatus::kOUT_OF_RANGE,
                       "tile must be 2, 4 or 6, got " + std::to_string(value));
      }
      parsed.tile = static_cast<int32_t>(value);
      seenTile = true;
    } else {
      if (!validPadding(value)) {
        return failure(FieldStatus::kOUT_OF_RANGE,
                       "padding must be 0 or 1, got " + std::to_string(value));
      }
      parsed.padding = static_cast<int32_t>(value);
      seenPadding = true;
    }
  }
  if (!seenTile || !seenPadding) {
    return failure(
        FieldStatus::kMISSING,
        std::string("required field '") + (seenTile ? kFieldPadding : kFieldTile) + "' is missing");
  }
  params = parsed;
  return result;
}

int32_t serializeFields(const ConvParams& params, FieldView* out, int32_t capacity) noexcept {
  if (out == nullptr || capacity < kSerializedFieldCount) {
    return 0;
  }
  out[0] = FieldView{kFieldTile, &params.tile, FieldType::kINT32, 1};
  out[1] = FieldView{kFieldPadding, &params.padding, FieldType::kINT32, 1};
  return kSerializedFieldCount;
}

std::string describe(const ConvParams& params) {
  return "tile=" + std::to_string(params.tile) + ",padding=" + std::to_string(params.padding);
}

const char* fieldStatusName(FieldStatus status) noexcept {
  switch (status) {
    case FieldStatus::kOK:
      return "ok";
    case FieldStatus::kNULL_COLLECTION:
      return "null collection";
    case FieldStatus::kMISSING:
      return "missing field";
    case FieldStatus::kWRONG_TYPE:
      return "wrong field type";
    case FieldStatus::kWRONG_LENGTH:
      return "wrong field length";
    case FieldStatus::kOUT_OF_RANGE:
      return "value out of range";
    case FieldStatus::kDUPLICATE:
      return "duplicate field";
  }
  return "unknown status";
}

}  // namespace trt
}  // namespace wno
