// WinogradConvPlugin: the IPluginV3 of the ONNX op wno_edge::WinogradConv.
//
//   Y = conv2d(X, weight, bias, stride 1, padding p) by Winograd F(m x m, 3 x 3)
//   X (N,C,H,W) float or half; weight (K,C,3,3), bias (K) constant inputs, float (or half with
//   a half X); Y (N,K,H+2p-2,W+2p-2) of X's type; NCHW linear; N, H, W dynamic.
//   On a line (rank-3 X, a 1-D model): X (N,C,W), weight (K,C,3) -> Y (N,K,W+2p-2), F(m, 3)
//   by kernel v1's 1-D path.
//
// Weight lifetime. TensorRT passes weight and bias as constant device inputs at enqueue. The
// plugin transforms them once, on the first enqueue, into device memory it owns (WeightCache,
// allocated by onShapeChange, where the sizes are known: enqueue never allocates),
// keyed on the weight/bias addresses, C, K, tile, padding and dtypes, so a rebinding or another
// type re-transforms and nothing else does. The copy belongs to one plugin object: clone() and
// attachToContext() start with an empty cache, so every execution context (and every builder
// clone that TensorRT times) owns one copy, and contexts never share mutable state; TensorRT
// already forbids concurrent enqueues on one context. A refit that rewrites the weights in
// place at the same address is not seen: create a new execution context after refitting.
//
// Serialisation: only the fields tile and padding (plugin_fields.h). The transformed copy is
// not serialised but rebuilt on the first enqueue, because (1) the engine already stores the
// weights once as the constant input and a second copy would double them, (2) its layout is
// private to the kernel library and may change with it, while the engine must not, (3) it
// depends on the I/O type, and (4) rebuilding costs one small kernel per layer and context.
#pragma once

#include "NvInferRuntime.h"
#include "plugin_fields.h"
#include "weight_cache.h"

#include <memory>
#include <string>

namespace wno {
namespace trt {

class WinogradConvPlugin final : public nvinfer1::IPluginV3,
                                 public nvinfer1::IPluginV3OneCore,
                                 public nvinfer1::IPluginV3OneBuild,
                                 public nvinfer1::IPluginV3OneRuntime {
 public:
  explicit WinogradConvPlugin(const ConvParams& params);
  ~WinogradConvPlugin() override = default;
  WinogradConvPlugin(const WinogradConvPlugin&) = delete;
  WinogradConvPlugin& operator=(const WinogradConvPlugin&) = delete;

  const ConvParams& params() const noexcept { return params_; }

  // IPluginV3
  nvinfer1::IPluginCapability* getCapabilityInterface(
      nvinfer1::PluginCapabilityType type) noexcept override;
  nvinfer1::IPluginV3* clone() noexcept override;

  // IPluginV3OneCore
  const char* getPluginName() const noexcept override;
  const char* getPluginVersion() const noexcept override;
  const char* getPluginNamespace() const noexcept override;

  // IPluginV3OneBuild
  int32_t configurePlugin(const nvinfer1::DynamicPluginTensorDesc* in, int32_t nb_inputs,
                          const nvinfer1::DynamicPluginTensorDesc* out,
                          int32_t nb_outputs) noexcept override;
  int32_t getOutputDataTypes(nvinfer1::DataType* output_types, int32_t nb_outputs,
                             const nvinfer1::DataType* input_types,
                             int32_t nb_inputs) const noexcept override;
  int32_t getOutputShapes(const nvinfer1::DimsExprs* inputs, int32_t nb_inputs,
                          const nvinfer1::DimsExprs* shape_inputs, int32_t nb_shape_inputs,
                          nvinfer1::DimsExprs* outputs, int32_t nb_outputs,
                          nvinfer1::IExprBuilder& expr_builder) noexcept override;
  bool supportsFormatCombination(int32_t pos, const nvinfer1::DynamicPluginTensorDesc* in_out,
                                 int32_t nb_inputs, int32_t nb_outputs) noexcept override;
  int32_t getNbOutputs() const noexcept override;
  size_t getWorkspaceSize(const nvinfer1::DynamicPluginTensorDesc* inputs, int32_t nb_inputs,
                          const nvinfer1::DynamicPluginTensorDesc* outputs,
                          int32_t nb_outputs) const noexcept override;
  const char* getTimingCacheID() noexcept override;
  const char* getMetadataString() noexcept override;

  // IPluginV3OneRuntime
  int32_t onShapeChange(const nvinfer1::PluginTensorDesc* in, int32_t nb_inputs,
                        const nvinfer1::PluginTensorDesc* out,
                        int32_t nb_outputs) noexcept override;
  int32_t enqueue(const nvinfer1::PluginTensorDesc* input_desc,
                  const nvinfer1::PluginTensorDesc* output_desc, const void* const* inputs,
                  void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
  nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
  const nvinfer1::PluginFieldCollection* getFieldsToSerialize() noexcept override;

 private:
  ConvParams params_;
  std::string description_;  // "tile=4,padding=1": timing-cache ID and metadata
  std::unique_ptr<WeightCache> weights_;
  int32_t kernel_{1};  // chosen by onShapeChange: choose_kernel(), see plugin_rules.h
  ConvParams serialized_params_{};
  nvinfer1::PluginField serialized_fields_[kSerializedFieldCount];
  nvinfer1::PluginFieldCollection serialized_collection_{};
};

}  // namespace trt
}  // namespace wno
