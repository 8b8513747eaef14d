#include "plugin_rules.h"

#include <algorithm>
#include <limits>

namespace wno {
namespace trt {
namespace {

bool known(int64_t dim) noexcept { return dim >= 0; }

std::string shape_string(const Shape& s) {
  std::string out = "(";
  for (int32_t i = 0; i < s.nb_dims && i < kMaxDims; ++i) {
    out += (i ? "," : "");
    out += known(s.d[i]) ? std::to_string(s.d[i]) : std::string("?");
  }
  return out + ")";
}

bool fits_int(int64_t v) noexcept { return v >= 0 && v <= std::numeric_limits<int32_t>::max(); }

bool align_up(size_t value, size_t& out) noexcept {
  const size_t mask = kSectionAlignment - 1;
  if (value > std::numeric_limits<size_t>::max() - mask) {
    return false;
  }
  out = (value + mask) & ~mask;
  return true;
}

}  // namespace

bool supports_io(int32_t pos, const int32_t* types, const bool* linear) noexcept {
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

int64_t output_extent(int64_t in, int32_t padding) noexcept {
  return known(in) ? in + 2 * static_cast<int64_t>(padding) - 2 : kUnknownDim;
}

std::string check_shapes(const Shape& x, const Shape& weight, const Shape& bias,
                         const ConvParams& params) {
  if (x.nb_dims != 4 && x.nb_dims != 3) {
    return "X must be 4-D (N,C,H,W) or, for a 1-D conv, 3-D (N,C,W), got rank " +
           std::to_string(x.nb_dims);
  }
  const bool line = x.nb_dims == 3;
  if (weight.nb_dims != x.nb_dims) {
    return std::string(line ? "weight must be 3-D (K,C,3) for a 3-D X, got rank "
                            : "weight must be 4-D (K,C,3,3), got rank ") +
           std::to_string(weight.nb_dims);
  }
  if (bias.nb_dims != 1) {
    return "bias must be 1-D (K), got rank " + std::to_string(bias.nb_dims);
  }
  for (int32_t i = 2; i < weight.nb_dims; ++i) {
    if (known(weight.d[i]) && weight.d[i] != 3) {
      return std::string(line ? "weight must be (K,C,3), got " : "weight must be (K,C,3,3), got ") +
             shape_string(weight);
    }
  }
  if (known(x.d[1]) && known(weight.d[1]) && x.d[1] != weight.d[1]) {
    return "X " + shape_string(x) + " has " + std::to_string(x.d[1]) + " channels, weight " +
           shape_string(weight) + " expects " + std::to_string(weight.d[1]);
  }
  if (known(bias.d[0]) && known(weight.d[0]) && bias.d[0] != weight.d[0]) {
    return "bias " + shape_string(bias) + " does not match weight " + shape_string(weight);
  }
  for (int32_t i = 2; i < x.nb_dims; ++i) {
    if (known(x.d[i]) && output_extent(x.d[i], params.padding) < 1) {
      return "X " + shape_string(x) +
             (line ? " is too small for a 3-tap kernel with padding " +
                         std::to_string(params.padding) + " (the output must be at least 1 long)"
                   : " is too small for a 3x3 kernel with padding " +
                         std::to_string(params.padding) + " (the output must be at least 1x1)");
    }
  }
  return std::string();
}

DescStatus make_desc(const Shape& x, const Shape& weight, const ConvParams& params,
                     wno_conv_desc& desc) noexcept {
  const int32_t rank = x.nb_dims;
  if ((rank != 4 && rank != 3) || weight.nb_dims != rank || !valid_tile(params.tile) ||
      !valid_padding(params.padding)) {
    return DescStatus::kInvalid;
  }
  for (int32_t i = 0; i < rank; ++i) {
    if (!fits_int(x.d[i]) || !fits_int(weight.d[i])) {
      return DescStatus::kInvalid;
    }
  }
  for (int32_t i = 2; i < rank; ++i) {
    if (weight.d[i] != 3 || output_extent(x.d[i], params.padding) < 1) {
      return DescStatus::kInvalid;
    }
  }
  if (x.d[1] != weight.d[1] || x.d[1] < 1) {
    return DescStatus::kInvalid;
  }
  desc.batch = static_cast<int>(x.d[0]);
  desc.in_channels = static_cast<int>(x.d[1]);
  desc.out_channels = static_cast<int>(weight.d[0]);
  desc.height = rank == 3 ? 1 : static_cast<int>(x.d[2]);
  desc.width = static_cast<int>(x.d[rank - 1]);
  desc.padding = params.padding;
  desc.tile = params.tile;
  desc.dims = rank == 3 ? 1 : 2;
  const bool empty = desc.batch == 0 || desc.out_channels == 0;
  return empty ? DescStatus::kEmpty : DescStatus::kOk;
}

bool to_wno_dtype(int32_t type, wno_dtype& dtype) noexcept {
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

size_t profile_workspace(const Shape* xs, int32_t count, const Shape& weight,
                         const ConvParams& params, wno_dtype dtype,
                         WorkspaceSizeFn workspace_size) noexcept {
  size_t result = 0;
  if (xs == nullptr || workspace_size == nullptr) {
    return result;
  }
  for (int32_t i = 0; i < count; ++i) {
    wno_conv_desc desc{};
    if (make_desc(xs[i], weight, params, desc) == DescStatus::kOk) {
      result = std::max(result, workspace_size(&desc, dtype));
    }
  }
  return result;
}

WeightKey make_weight_key(const wno_conv_desc& desc, wno_dtype dtype, bool weight_half,
                          bool bias_half, int32_t kernel) noexcept {
  WeightKey key;
  key.in_channels = desc.in_channels;
  key.out_channels = desc.out_channels;
  key.tile = desc.tile;
  key.padding = desc.padding;
  key.dtype = dtype;
  key.weight_half = weight_half;
  key.bias_half = bias_half;
  key.kernel = kernel;
  key.dims = desc.dims == 1 ? 1 : 2;
  return key;
}

bool operator==(const WeightKey& a, const WeightKey& b) noexcept {
  return a.weight == b.weight && a.bias == b.bias && a.in_channels == b.in_channels &&
         a.out_channels == b.out_channels && a.tile == b.tile && a.padding == b.padding &&
         a.dtype == b.dtype && a.weight_half == b.weight_half && a.bias_half == b.bias_half &&
         a.kernel == b.kernel && a.dims == b.dims;
}

int32_t choose_kernel(const char* env_value, bool v2_supported, int32_t dims) noexcept {
  if (dims == 1 || (env_value != nullptr && env_value[0] == '1' && env_value[1] == '\0')) {
    return 1;
  }
  return v2_supported ? 2 : 1;
}

bool plan_weight_buffer(size_t transformed_bytes, const WeightKey& key,
                        WeightBufferLayout& layout) noexcept {
  if (transformed_bytes == 0 || key.in_channels < 1 || key.out_channels < 1) {
    return false;
  }
  const size_t k = static_cast<size_t>(key.out_channels);
  const size_t c = static_cast<size_t>(key.in_channels);
  if (c > std::numeric_limits<size_t>::max() / (9 * sizeof(float)) / k) {
    return false;
  }
  WeightBufferLayout out;
  out.transformed_bytes = transformed_bytes;
  out.bias_bytes = key.bias_half ? k * sizeof(float) : 0;
  const size_t taps = key.dims == 1 ? 3 : 9;
  out.weight_bytes = key.weight_half ? k * c * taps * sizeof(float) : 0;
  size_t end = 0;
  if (!align_up(out.transformed_bytes, end)) {
    return false;
  }
  out.bias_offset = end;
  if (end > std::numeric_limits<size_t>::max() - out.bias_bytes ||
      !align_up(end + out.bias_bytes, end)) {
    return false;
  }
  out.weight_offset = end;
  if (end > std::numeric_limits<size_t>::max() - out.weight_bytes ||
      !align_up(end + out.weight_bytes, end)) {
    return false;
  }
  out.total_bytes = end;
  layout = out;
  return true;
}

}  // namespace trt
}  // namespace wno
