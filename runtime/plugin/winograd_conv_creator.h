// WinogradConvPluginCreator: makes WinogradConvPlugin objects from the ONNX node's attributes
// (build phase) or from the serialised fields of an engine (runtime phase).
#pragma once

#include "NvInferRuntime.h"

#include <vector>

namespace wno {
namespace trt {

class WinogradConvPluginCreator final : public nvinfer1::IPluginCreatorV3One {
 public:
  WinogradConvPluginCreator();
  ~WinogradConvPluginCreator() override = default;

  const char* getPluginName() const noexcept override;
  const char* getPluginVersion() const noexcept override;
  const char* getPluginNamespace() const noexcept override;
  // tile and padding, kINT32: the ONNX parser forwards exactly the attributes listed here.
  const nvinfer1::PluginFieldCollection* getFieldNames() noexcept override;
  // nullptr, with the reason logged, for missing or invalid fields.
  nvinfer1::IPluginV3* createPlugin(const char* name, const nvinfer1::PluginFieldCollection* fc,
                                    nvinfer1::TensorRTPhase phase) noexcept override;

 private:
  std::vector<nvinfer1::PluginField> field_names_;
  nvinfer1::PluginFieldCollection field_collection_{};
};

}  // namespace trt
}  // namespace wno
