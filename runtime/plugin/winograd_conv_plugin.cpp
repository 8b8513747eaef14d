#include "winograd_conv_plugin.h"

#include "plugin_logging.h"
#include "plugin_rules.h"

#include <cstdlib>
#include <string>

using namespace nvinfer1;

namespace wno {
namespace trt {

static_assert(static_cast<int32_t>(DataType::kFLOAT) == kTypeFloat,
              "nvinfer1::DataType::kFLOAT changed");
static_assert(static_cast<int32_t>(DataType::kHALF) == kTypeHalf,
              "nvinfer1::DataType::kHALF changed");
static_assert(Dims::MAX_DIMS <= kMaxDims, "Shape holds fewer dimensions than nvinfer1::Dims");

namespace {

Shape to_shape(const Dims& dims) noexcept {
  Shape shape;
  shape.nb_dims = dims.nbDims;
  for (int32_t i = 0; i < dims.nbDims && i < kMaxDims; ++i) {
    shape.d[i] = dims.d[i];
  }
  return shape;
}

// Constant dimensions as values, the others as unknown.
Shape to_shape(const DimsExprs& dims) noexcept {
  Shape shape;
  shape.nb_dims = dims.nbDims;
  for (int32_t i = 0; i < dims.nbDims && i < kMaxDims; ++i) {
    shape.d[i] = dims.d[i] != nullptr && dims.d[i]->isConstant() ? dims.d[i]->getConstantValue()
                                                                 : kUnknownDim;
  }
  return shape;
}

bool io_count_ok(int32_t nb_inputs, int32_t nb_outputs) noexcept {
  return nb_inputs == kNbInputs && nb_outputs == kNbOutputs;
}

std::string io_count_message(int32_t nb_inputs, int32_t nb_outputs) {
  return "expects 3 inputs (X, weight, bias) and 1 output, got " + std::to_string(nb_inputs) +
         " and " + std::to_string(nb_outputs);
}

std::string wno_message(const char* call, wno_status status) {
  std::string message = std::string(call) + ": " + wno_status_string(status);
  if (status == WNO_ERROR_CUDA) {
    message += std::string(": ") + wno_cuda_last_error();
  }
  return message;
}

}  // namespace

WinogradConvPlugin::WinogradConvPlugin(const ConvParams& params)
    : params_(params), description_(describe(params)) {}

IPluginCapability* WinogradConvPlugin::getCapabilityInterface(PluginCapabilityType type) noexcept {
  switch (type) {
    case PluginCapabilityType::kCORE:
      return static_cast<IPluginV3OneCore*>(this);
    case PluginCapabilityType::kBUILD:
      return static_cast<IPluginV3OneBuild*>(this);
    case PluginCapabilityType::kRUNTIME:
      return static_cast<IPluginV3OneRuntime*>(this);
  }
  return nullptr;
}

// A clone carries the fields only: its weight cache starts empty (see the header).
IPluginV3* WinogradConvPlugin::clone() noexcept {
  try {
    return new WinogradConvPlugin(params_);
  } catch (...) {
    report_exception("clone");
  }
  return nullptr;
}

const char* WinogradConvPlugin::getPluginName() const noexcept { return kPluginName; }

const char* WinogradConvPlugin::getPluginVersion() const noexcept { return kPluginVersion; }

const char* WinogradConvPlugin::getPluginNamespace() const noexcept { return kPluginNamespace; }

int32_t WinogradConvPlugin::configurePlugin(const DynamicPluginTensorDesc* in, int32_t nb_inputs,
                                            const DynamicPluginTensorDesc* out,
                                            int32_t nb_outputs) noexcept {
  try {
    if (!io_count_ok(nb_inputs, nb_outputs) || in == nullptr || out == nullptr) {
      return report_error("configurePlugin", io_count_message(nb_inputs, nb_outputs));
    }
    const std::string problem =
        check_shapes(to_shape(in[kPosX].desc.dims), to_shape(in[kPosWeight].desc.dims),
                     to_shape(in[kPosBias].desc.dims), params_);
    if (!problem.empty()) {
      return report_error("configurePlugin", problem);
    }
    return 0;
  } catch (...) {
    return report_exception("configurePlugin");
  }
}

int32_t WinogradConvPlugin::getOutputDataTypes(DataType* output_types, int32_t nb_outputs,
                                               const DataType* input_types,
                                               int32_t nb_inputs) const noexcept {
  try {
    if (!io_count_ok(nb_inputs, nb_outputs) || output_types == nullptr || input_types == nullptr) {
      return report_error("getOutputDataTypes", io_count_message(nb_inputs, nb_outputs));
    }
    wno_dtype dtype{};
    if (!to_wno_dtype(static_cast<int32_t>(input_types[kPosX]), dtype)) {
      const int32_t type = static_cast<int32_t>(input_types[kPosX]);
      return report_error("getOutputDataTypes",
                          "X must be float32 or float16, got DataType " + std::to_string(type));
    }
    output_types[0] = input_types[kPosX];
    return 0;
  } catch (...) {
    return report_exception("getOutputDataTypes");
  }
}

// Y = (N, K, H + 2p - 2, W + 2p - 2), symbolic in N, H and W; on a line (N, K, W + 2p - 2).
int32_t WinogradConvPlugin::getOutputShapes(const DimsExprs* inputs, int32_t nb_inputs,
                                            const DimsExprs* /* shapeInputs */,
                                            int32_t /* nbShapeInputs */, DimsExprs* outputs,
                                            int32_t nb_outputs,
                                            IExprBuilder& expr_builder) noexcept {
  try {
    if (!io_count_ok(nb_inputs, nb_outputs) || inputs == nullptr || outputs == nullptr) {
      return report_error("getOutputShapes", io_count_message(nb_inputs, nb_outputs));
    }
    const DimsExprs& x = inputs[kPosX];
    const DimsExprs& weight = inputs[kPosWeight];
    const std::string problem =
        check_shapes(to_shape(x), to_shape(weight), to_shape(inputs[kPosBias]), params_);
    if (!problem.empty()) {
      return report_error("getOutputShapes", problem);
    }
    DimsExprs& y = outputs[0];
    y.nbDims = x.nbDims;
    y.d[0] = x.d[0];
    y.d[1] = weight.d[0];
    for (int32_t i = 2; i < x.nbDims; ++i) {
      // padding 1: H + 0; padding 0: H - 2.
      y.d[i] = params_.padding == 1 ? x.d[i]
                                    : expr_builder.operation(DimensionOperation::kSUB, *x.d[i],
                                                             *expr_builder.constant(2));
      if (y.d[i] == nullptr) {
        return report_error("getOutputShapes", "IExprBuilder returned no expression");
      }
    }
    return 0;
  } catch (...) {
    return report_exception("getOutputShapes");
  }
}

bool WinogradConvPlugin::supportsFormatCombination(int32_t pos,
                                                   const DynamicPluginTensorDesc* in_out,
                                                   int32_t nb_inputs, int32_t nb_outputs) noexcept {
  if (!io_count_ok(nb_inputs, nb_outputs) || in_out == nullptr || pos < 0 || pos > kPosY) {
    return false;
  }
  int32_t types[kPosY + 1]{};
  bool linear[kPosY + 1]{};
  for (int32_t i = 0; i <= pos; ++i) {
    types[i] = static_cast<int32_t>(in_out[i].desc.type);
    linear[i] = in_out[i].desc.format == TensorFormat::kLINEAR;
  }
  return supports_io(pos, types, linear);
}

int32_t WinogradConvPlugin::getNbOutputs() const noexcept { return kNbOutputs; }

// The largest the kernel asks for at the profile's min, opt and max shapes; shapes in between
// are covered as long as wno_cuda_workspace_size does not decrease with N, H or W. The
// transformed weights live in plugin-owned memory, not here: TensorRT's workspace does not
// persist between enqueues.
size_t WinogradConvPlugin::getWorkspaceSize(const DynamicPluginTensorDesc* inputs,
                                            int32_t nb_inputs,
                                            const DynamicPluginTensorDesc* outputs,
                                            int32_t nb_outputs) const noexcept {
  if (!io_count_ok(nb_inputs, nb_outputs) || inputs == nullptr || outputs == nullptr) {
    return 0;
  }
  wno_dtype dtype{};
  if (!to_wno_dtype(static_cast<int32_t>(inputs[kPosX].desc.type), dtype)) {
    return 0;
  }
  const Shape xs[3] = {to_shape(inputs[kPosX].min), to_shape(inputs[kPosX].opt),
                       to_shape(inputs[kPosX].max)};
  return profile_workspace(xs, 3, to_shape(inputs[kPosWeight].max), params_, dtype,
                           &wno_cuda_workspace_size);
}

const char* WinogradConvPlugin::getTimingCacheID() noexcept { return description_.c_str(); }

const char* WinogradConvPlugin::getMetadataString() noexcept { return description_.c_str(); }

int32_t WinogradConvPlugin::onShapeChange(const PluginTensorDesc* in, int32_t nb_inputs,
                                          const PluginTensorDesc* out,
                                          int32_t nb_outputs) noexcept {
  try {
    if (!io_count_ok(nb_inputs, nb_outputs) || in == nullptr || out == nullptr) {
      return report_error("onShapeChange", io_count_message(nb_inputs, nb_outputs));
    }
    const Shape x = to_shape(in[kPosX].dims);
    const Shape weight = to_shape(in[kPosWeight].dims);
    const std::string problem = check_shapes(x, weight, to_shape(in[kPosBias].dims), params_);
    if (!problem.empty()) {
      return report_error("onShapeChange", problem);
    }
    wno_conv_desc desc{};
    const DescStatus shape = make_desc(x, weight, params_, desc);
    if (shape == DescStatus::kInvalid) {
      return report_error("onShapeChange", "shapes out of the kernel's range");
    }
    wno_dtype dtype{};
    if (shape == DescStatus::kOk && to_wno_dtype(static_cast<int32_t>(in[kPosX].type), dtype)) {
      // The sizes are known here: allocate the transformed-weight buffer now, not in enqueue.
      kernel_ = choose_kernel(std::getenv("WNO_CUDA_KERNEL"), wno_cuda_v2_supported(dtype) != 0,
                              desc.dims);
      const WeightKey key = make_weight_key(desc, dtype, in[kPosWeight].type == DataType::kHALF,
                                            in[kPosBias].type == DataType::kHALF, kernel_);
      if (!weights_) {
        weights_ = std::make_unique<WeightCache>();
      }
      std::string error;
      if (weights_->reserve(key, desc, error) != WNO_SUCCESS) {
        return report_error("onShapeChange", error);
      }
    }
    return 0;
  } catch (...) {
    return report_exception("onShapeChange");
  }
}

int32_t WinogradConvPlugin::enqueue(const PluginTensorDesc* input_desc,
                                    const PluginTensorDesc* output_desc, const void* const* inputs,
                                    void* const* outputs, void* workspace,
                                    cudaStream_t stream) noexcept {
  try {
    if (input_desc == nullptr || output_desc == nullptr || inputs == nullptr ||
        outputs == nullptr) {
      return report_error("enqueue", "null tensor descriptors or pointers");
    }
    wno_conv_desc desc{};
    const DescStatus shape = make_desc(to_shape(input_desc[kPosX].dims),
                                       to_shape(input_desc[kPosWeight].dims), params_, desc);
    if (shape == DescStatus::kEmpty) {
      return 0;
    }
    wno_dtype dtype{};
    if (shape != DescStatus::kOk ||
        !to_wno_dtype(static_cast<int32_t>(input_desc[kPosX].type), dtype)) {
      return report_error("enqueue", "unsupported shapes or data type");
    }
    WeightKey key = make_weight_key(desc, dtype, input_desc[kPosWeight].type == DataType::kHALF,
                                    input_desc[kPosBias].type == DataType::kHALF, kernel_);
    key.weight = inputs[kPosWeight];
    key.bias = inputs[kPosBias];

    if (!weights_) {
      weights_ = std::make_unique<WeightCache>();
    }
    const int64_t transforms_before = weights_->transform_count();
    std::string error;
    wno_status status = weights_->prepare(key, desc, stream, error);
    if (status != WNO_SUCCESS) {
      return report_error("enqueue", error);
    }
    if (weights_->transform_count() != transforms_before) {
      log_message(ILogger::Severity::kVERBOSE, "enqueue",
                  ("transformed weights (kernel v" + std::to_string(kernel_) +
                   ") K=" + std::to_string(desc.out_channels) +
                   " C=" + std::to_string(desc.in_channels) + " " + description_)
                      .c_str());
    }

    const size_t workspace_bytes = wno_cuda_workspace_size(&desc, dtype);
    if (workspace_bytes > 0 && workspace == nullptr) {
      return report_error("enqueue", "TensorRT gave no workspace");
    }
    if (kernel_ == 2) {  // tensor cores; float32 as 3xTF32 (float32-level error)
      status = wno_cuda_v2_conv2d(&desc, dtype, WNO_MATH_DEFAULT, inputs[kPosX],
                                  weights_->transformed(), weights_->bias(inputs[kPosBias]),
                                  outputs[0], workspace, workspace_bytes, stream);
    } else {
      status = wno_cuda_conv2d(&desc, dtype, inputs[kPosX], weights_->transformed(),
                               weights_->bias(inputs[kPosBias]), outputs[0], workspace,
                               workspace_bytes, stream);
    }
    if (status != WNO_SUCCESS) {
      return report_error(
          "enqueue", wno_message(kernel_ == 2 ? "wno_cuda_v2_conv2d" : "wno_cuda_conv2d", status));
    }
    return 0;
  } catch (...) {
    return report_exception("enqueue");
  }
}

// One plugin object, hence one transformed-weight copy, per execution context.
IPluginV3* WinogradConvPlugin::attachToContext(IPluginResourceContext* /* context */) noexcept {
  return clone();
}

const PluginFieldCollection* WinogradConvPlugin::getFieldsToSerialize() noexcept {
  serialized_params_ = params_;
  FieldView views[kSerializedFieldCount];
  const int32_t count = serialize_fields(serialized_params_, views, kSerializedFieldCount);
  for (int32_t i = 0; i < count; ++i) {
    serialized_fields_[i] = PluginField(
        views[i].name, views[i].data, static_cast<PluginFieldType>(views[i].type), views[i].length);
  }
  serialized_collection_.nbFields = count;
  serialized_collection_.fields = serialized_fields_;
  return &serialized_collection_;
}

}  // namespace trt
}  // namespace wno
