#include "plugin_rules.h"

#include <algorithm>
#include <limits>

namespace wno {
namespace trt {
namespace {

bool known(int64_t dim) noexcept { return dim >= 0; }

std::string shapeString(const Shape& s) {
  std::string out = "(";
  for (int32_t i = 0; i < s.nbDims && i < kMaxDims; ++i) {
    out += (i ? "," : "");
    out += known(s.d[i]) ? std::to_string(s.d[i]) : std::string("?");
  }
  return out + ")";
}

bool fitsInt(int64_t v) noexcept { return v >= 0 && v <= std::numeric_limits<int32_t>::max(); }

bool alignUp(size_t value, size_t& out) noexcept {
  const size_t mask = kSectionAlignment - 1;
  if (value > std::numeric_limits<size_t>::max() - mask) {
    return false;
  }
  out = (value + mask) & ~mask;
  return true;
}

}  // namespace

bool supportsIo(int32_t pos, const int32_t* types, const bool* linear) noexcept {
  if (types == nullptr || linear == nullptr || pos < 0 || pos > kPosY || !linear[pos]) {
    return false;
  }
  const int32_t type = types[pos];
  switch (pos) {
    case kPosX:
      return type == kTypeFloat || type == kTypeHalf;
    case kPosWeight:
      return type == kTypeFloat || (type == kTypeHalf && types[kPosX] == kTypeHalf);
    case kPosBias:
      return type == types[kPosWeight];
    case kPosY:
      return type == types[kPosX];
    default:
      return false;
  }
}

int64_t outputExtent(int64_t in, int32_t padding) noexcept {
  return known(in) ? in + 2 * static_cast<int64_t>(padding) - 2 : kUnknownDim;
}

std::string checkShapes(const Shape& x, const Shape& weight, const Shape& bias,
                        const ConvParams& params) {
  if (x.nbDims != 4) {
    return "X must be 4-D (N,C,H,W), got rank " + std::to_string(x.nbDims);
  }
  if (weight.nbDims != 4) {
    return "weight must be 4-D (K,C,3,3), got rank " + std::to_string(weight.nbDims);
  }
  if (bias.nbDims != 1) {
    return "bias must be 1-D (K), got rank " + std::to_string(bias.nbDims);
  }
  if ((known(weight.d[2]) && weight.d[2] != 3) || (known(weight.d[3]) && weight.d[3] != 3)) {
    return "weight must be (K,C,3,3), got " + shapeString(weight);
  }
  if (known(x.d[1]) && known(weight.d[1]) && x.d[1] != weight.d[1]) {
    return "X " + shapeString(x) + " has " + std::to_string(x.d[1]) + " channels, weight " +
           shapeString(weight) + " expects " + std::to_string(weight.d[1]);
  }
  if (known(bias.d[0]) && known(weight.d[0]) && bias.d[0] != weight.d[0]) {
    return "bias " + shapeString(bias) + " does not match weight " + shapeString(weight);
  }
  for (int32_t i = 2; i < 4; ++i) {
    if (known(x.d[i]) && outputExtent(x.d[i], params.padding) < 1) {
      return "X " + shapeString(x) + " is too small for a 3x3 kernel with padding " +
             std::to_string(params.padding) + " (the output must be at least 1x1)";
    }
  }
  return std::string();
}

DescStatus makeDesc(const Shape& x, const Shape& weight, const ConvParams& params,
                    wno_conv_desc& desc) noexcept {
  if (x.nbDims != 4 || weight.nbDims != 4 || !validTile(params.tile) ||
      !validPadding(params.padding)) {
    return DescStatus::kINVALID;
  }
  for (int32_t i = 0; i < 4; ++i) {
    if (!fitsInt(x.d[i]) || !fitsInt(weight.d[i])) {
      return DescStatus::kINVALID;
    }
  }
  const int64_t ho = outputExtent(x.d[2], params.padding);
  const int64_t wo = outputExtent(x.d[3], params.padding);
  if (weight.d[2] != 3 || weight.d[3] != 3 || x.d[1] != weight.d[1] || x.d[1] < 1 || ho < 1 ||
      wo < 1) {
    return DescStatus::kINVALID;
  }
  desc.batch = static_cast<int>(x.d[0]);
  desc.in_channels = static_cast<int>(x.d[1]);
  desc.out_channels = static_cast<int>(weight.d[0]);
  desc.height = static_cast<int>(x.d[2]);
  desc.width = static_cast<int>(x.d[3]);
  desc.padding = params.padding;
  desc.tile = params.tile;
  const bool empty = desc.batch == 0 || desc.out_channels == 0;
  return empty ? DescStatus::kEMPTY : DescStatus::kOK;
}

bool toWnoDtype(int32_t type, wno_dtype& dtype) noexcept {
  if (type == kTypeFloat) {
    dtype = WNO_FLOAT32;
    return true;
  }
  if (type == kTypeHalf) {
    dtype = WNO_FLOAT16;
    return true;
  }
  return false;
}

size_t profileWorkspace(const Shape* xs, int32_t count, const Shape& weight,
                        const ConvParams& params, wno_dtype dtype,
                        WorkspaceSizeFn workspaceSize) noexcept {
  size_t result = 0;
  if (xs == nullptr || workspaceSize == nullptr) {
    return result;
  }
  for (int32_t i = 0; i < count; ++i) {
    wno_conv_desc desc{};
    if (makeDesc(xs[i], weight, params, desc) == DescStatus::kOK) {
      result = std::max(result, workspaceSize(&desc, dtype));
    }
  }
  return result;
}

bool operator==(const WeightKey& a, const WeightKey& b) noexcept {
  return a.weight == b.weight && a.bias == b.bias && a.inChannels == b.inChannels &&
         a.outChannels == b.outChannels && a.tile == b.tile && a.padding == b.padding &&
         a.dtype == b.dtype && a.weightHalf == b.weightHalf && a.biasHalf == b.biasHalf;
}

bool planWeightBuffer(size_t transformedBytes, const WeightKey& key,
                      WeightBufferLayout& layout) noexcept {
  if (transformedBytes == 0 || key.inChannels < 1 || key.outChannels < 1) {
    return false;
  }
  const size_t k = static_cast<size_t>(key.outChannels);
  const size_t c = static_cast<size_t>(key.inChannels);
  if (c > std::numeric_limits<size_t>::max() / (9 * sizeof(float)) / k) {
    return false;
  }
  WeightBufferLayout out;
  out.transformedBytes = transformedBytes;
  out.biasBytes = key.biasHalf ? k * sizeof(float) : 0;
  out.weightBytes = key.weightHalf ? k * c * 9 * sizeof(float) : 0;
  size_t end = 0;
  if (!alignUp(out.transformedBytes, end)) {
    return false;
  }
  out.biasOffset = end;
  if (end > std::numeric_limits<size_t>::max() - out.biasBytes ||
      !alignUp(end + out.biasBytes, end)) {
    return false;
  }
  out.weightOffset = end;
  if (end > std::numeric_limits<size_t>::max() - out.weightBytes ||
      !alignUp(end + out.weightBytes, end)) {
    return false;
  }
  out.totalBytes = end;
  layout = out;
  return true;
}

}  // namespace trt
}  // namespace wno
