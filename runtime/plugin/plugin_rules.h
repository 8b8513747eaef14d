// The rules of the WinogradConv plugin that need no TensorRT and no GPU: I/O types and formats,
// shape checks and output-shape arithmetic, the kernel descriptor, the workspace over an
// optimisation profile, and the layout and key of the plugin-owned weight buffer.
// Plain C++17 over the C ABI header, so the host tests drive exactly this code.
#pragma once

#include "plugin_fields.h"
#include "wno/winograd.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace wno {
namespace trt {

// I/O: X (N,C,H,W), weight (K,C,3,3), bias (K) -> Y (N,K,H+2p-2,W+2p-2); or, on a line (a 1-D
// model: export/SPEC.md, rank 3), X (N,C,W), weight (K,C,3), bias (K) -> Y (N,K,W+2p-2).
inline constexpr int32_t kNbInputs = 3;
inline constexpr int32_t kNbOutputs = 1;
inline constexpr int32_t kPosX = 0;  // positions in supportsFormatCombination's in_out
inline constexpr int32_t kPosWeight = 1;
inline constexpr int32_t kPosBias = 2;
inline constexpr int32_t kPosY = 3;

// Values of nvinfer1::DataType (static_asserts in winograd_conv_plugin.cpp).
inline constexpr int32_t kTypeFloat = 0;
inline constexpr int32_t kTypeHalf = 1;

// X/Y: linear, same type, float or half. Weight/bias: linear, float; or half when X is half
// (an all-fp16 ONNX model: its fallback Conv types X, W and B alike, and strongly typed
// networks, the only kind from TensorRT 11 on, keep those types). Bias has weight's type.
// Decides in_out[pos] from types[0..pos] and linear[0..pos] only, as TensorRT requires.
bool supports_io(int32_t pos, const int32_t* types, const bool* linear) noexcept;

inline constexpr int32_t kMaxDims = 8;
inline constexpr int64_t kUnknownDim = -1;

// A shape; kUnknownDim (or any negative value) marks a dimension not known at build time.
struct Shape {
  int32_t nb_dims{0};
  int64_t d[kMaxDims]{};
};

// H + 2p - 2, or kUnknownDim when `in` is unknown. < 1 for too small an input.
int64_t output_extent(int64_t in, int32_t padding) noexcept;

// Ranks 4/4/1 with a 3x3 kernel or 3/3/1 with a 3-tap one, matching C and K, an output of at
// least 1x1 (or 1 on a line) (export/SPEC.md); unknown dimensions pass.
// Returns "" when consistent, else the reason.
std::string check_shapes(const Shape& x, const Shape& weight, const Shape& bias,
                         const ConvParams& params);

enum class DescStatus : int32_t {
  kOk = 0,
  kEmpty = 1,  // a zero-size batch or K: nothing to compute
  kInvalid =
      2,  // unknown, negative or out-of-int range dimensions, mismatches, an output under 1x1
};

// The kernel descriptor of fully known shapes (rank 3: dims 1, height 1).
DescStatus make_desc(const Shape& x, const Shape& weight, const ConvParams& params,
                     wno_conv_desc& desc) noexcept;

// float -> WNO_FLOAT32, half -> WNO_FLOAT16; false for any other type.
bool to_wno_dtype(int32_t type, wno_dtype& dtype) noexcept;

using WorkspaceSizeFn = size_t (*)(const wno_conv_desc*, wno_dtype);

// The largest workspace the kernel asks for over the given input shapes (an optimisation
// profile's min, opt and max); shapes with no valid descriptor are skipped.
size_t profile_workspace(const Shape* xs, int32_t count, const Shape& weight,
                         const ConvParams& params, wno_dtype dtype,
                         WorkspaceSizeFn workspace_size) noexcept;

// What the transformed weights depend on. Pointers: TensorRT passes constant inputs at fixed
// addresses; another address (a rebinding, a different engine's weights) means a re-transform.
struct WeightKey {
  const void* weight{nullptr};
  const void* bias{nullptr};
  int32_t in_channels{0};
  int32_t out_channels{0};
  int32_t tile{0};
  int32_t padding{0};
  wno_dtype dtype{WNO_FLOAT32};  // X/Y storage, also the transformed weights' storage
  bool weight_half{false};
  bool bias_half{false};
  int32_t kernel{1};  // 1: wno_cuda_* (v1), 2: wno_cuda_v2_* (tensor cores); layouts differ
  int32_t dims{2};    // 2, or 1 on a line: a positions instead of a^2, 3 taps instead of 9
};

// The CUDA kernel the plugin runs: v2 where it supports the dtype on this device, v1
// otherwise, and v1 on a line (dims 1: v2 has no 1-D path); env_value ($WNO_CUDA_KERNEL) "1"
// forces v1, "2" asks for v2 (still v1 where v2 is not supported).
int32_t choose_kernel(const char* env_value, bool v2_supported, int32_t dims) noexcept;

// The key of a layer's transformed weights: its shape, dtypes and kernel (the weight and
// bias addresses are set by enqueue, where they are known).
WeightKey make_weight_key(const wno_conv_desc& desc, wno_dtype dtype, bool weight_half,
                          bool bias_half, int32_t kernel) noexcept;

bool operator==(const WeightKey& a, const WeightKey& b) noexcept;
inline bool operator!=(const WeightKey& a, const WeightKey& b) noexcept { return !(a == b); }

// One plugin-owned device allocation: [transformed weights | float32 bias | float32 weight],
// each section aligned to kSectionAlignment; the float32 copies exist only for half inputs
// (the kernel ABI takes float32 weight and bias; K*C*9 values, K*C*3 on a line).
inline constexpr size_t kSectionAlignment = 256;

struct WeightBufferLayout {
  size_t transformed_offset{0};
  size_t transformed_bytes{0};
  size_t bias_offset{0};
  size_t bias_bytes{0};
  size_t weight_offset{0};
  size_t weight_bytes{0};
  size_t total_bytes{0};
};

// false on overflow or negative channel counts.
bool plan_weight_buffer(size_t transformed_bytes, const WeightKey& key,
                        WeightBufferLayout& layout) noexcept;

}  // namespace trt
}  // namespace wno
