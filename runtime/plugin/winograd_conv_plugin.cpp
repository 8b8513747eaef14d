#include "winograd_conv_plugin.h"

#include "plugin_logging.h"
#include "plugin_rules.h"

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

Shape toShape(const Dims& dims) noexcept {
  Shape shape;
  shape.nbDims = dims.nbDims;
  for (int32_t i = 0; i < dims.nbDims && i < kMaxDims; ++i) {
    shape.d[i] = dims.d[i];
  }
  return shape;
}

// Constant dimensions as values, the others as unknown.
Shape toShape(const DimsExprs& dims) noexcept {
  Shape shape;
  shape.nbDims = dims.nbDims;
  for (int32_t i = 0; i < dims.nbDims && i < kMaxDims; ++i) {
    shape.d[i] = dims.d[i] != nullptr && dims.d[i]->isConstant() ? dims.d[i]->getConstantValue()
                                                                 : kUnknownDim;
  }
  return shape;
}

bool ioCountOk(int32_t nbInputs, int32_t nbOutputs) noexcept {
  return nbInputs == kNbInputs && nbOutputs == kNbOutputs;
}

std::string ioCountMessage(int32_t nbInputs, int32_t nbOutputs) {
  return "expects 3 inputs (X, weight, bias) and 1 output, got " + std::to_string(nbInputs) +
         " and " + std::to_string(nbOutputs);
}

std::string wnoMessage(const char* call, wno_status status) {
  std::string message = std::string(call) + ": " + wno_status_string(status);
  if (status == WNO_ERROR_CUDA) {
    message += std::string(": ") + wno_cuda_last_error();
  }
  return message;
}

}  // namespace

WinogradConvPlugin::WinogradConvPlugin(const ConvParams& params)
    : mParams(params), mDescription(describe(params)) {}

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
    return new WinogradConvPlugin(mParams);
  } catch (...) {
    reportException("clone");
  }
  return nullptr;
}

const char* WinogradConvPlugin::getPluginName() const noexcept { return kPluginName; }

const char* WinogradConvPlugin::getPluginVersion() const noexcept { return kPluginVersion; }

const char* WinogradConvPlugin::getPluginNamespace() const noexcept { return kPluginNamespace; }

int32_t WinogradConvPlugin::configurePlugin(const DynamicPluginTensorDesc* in, int32_t nbInputs,
                                            const DynamicPluginTensorDesc* out,
                                            int32_t nbOutputs) noexcept {
  try {
    if (!ioCountOk(nbInputs, nbOutputs) || in == nullptr || out == nullptr) {
      return reportError("configurePlugin", ioCountMessage(nbInputs, nbOutputs));
    }
    const std::string problem =
        checkShapes(toShape(in[kPosX].desc.dims), toShape(in[kPosWeight].desc.dims),
                    toShape(in[kPosBias].desc.dims), mParams);
    if (!problem.empty()) {
      return reportError("configurePlugin", problem);
    }
    return 0;
  } catch (...) {
    return reportException("configurePlugin");
  }
}

int32_t WinogradConvPlugin::getOutputDataTypes(DataType* outputTypes, int32_t nbOutputs,
                                               const DataType* inputTypes,
                                               int32_t nbInputs) const noexcept {
  try {
    if (!ioCountOk(nbInputs, nbOutputs) || outputTypes == nullptr || inputTypes == nullptr) {
      return reportError("getOutputDataTypes", ioCountMessage(nbInputs, nbOutputs));
    }
    wno_dtype dtype{};
    if (!toWnoDtype(static_cast<int32_t>(inputTypes[kPosX]), dtype)) {
      const int32_t type = static_cast<int32_t>(inputTypes[kPosX]);
      return reportError("getOutputDataTypes",
                         "X must be float32 or float16, got DataType " + std::to_string(type));
    }
    outputTypes[0] = inputTypes[kPosX];
    return 0;
  } catch (...) {
    return reportException("getOutputDataTypes");
  }
}

// Y = (N, K, H + 2p - 2, W + 2p - 2), symbolic in N, H and W.
int32_t WinogradConvPlugin::getOutputShapes(const DimsExprs* inputs, int32_t nbInputs,
                                            const DimsExprs* /* shapeInputs */,
                                            int32_t /* nbShapeInputs */, DimsExprs* outputs,
                                            int32_t nbOutputs, IExprBuilder& exprBuilder) noexcept {
  try {
    if (!ioCountOk(nbInputs, nbOutputs) || inputs == nullptr || outputs == nullptr) {
      return reportError("getOutputShapes", ioCountMessage(nbInputs, nbOutputs));
    }
    const DimsExprs& x = inputs[kPosX];
    const DimsExprs& weight = inputs[kPosWeight];
    const std::string problem =
        checkShapes(toShape(x), toShape(weight), toShape(inputs[kPosBias]), mParams);
    if (!problem.empty()) {
      return reportError("getOutputShapes", problem);
    }
    DimsExprs& y = outputs[0];
    y.nbDims = 4;
    y.d[0] = x.d[0];
    y.d[1] = weight.d[0];
    for (int32_t i = 2; i < 4; ++i) {
      // padding 1: H + 0; padding 0: H - 2.
      y.d[i] = mParams.padding == 1 ? x.d[i]
                                    : exprBuilder.operation(DimensionOperation::kSUB, *x.d[i],
                                                            *exprBuilder.constant(2));
      if (y.d[i] == nullptr) {
        return reportError("getOutputShapes", "IExprBuilder returned no expression");
      }
    }
    return 0;
  } catch (...) {
    return reportException("getOutputShapes");
  }
}

bool WinogradConvPlugin::supportsFormatCombination(int32_t pos,
                                                   const DynamicPluginTensorDesc* inOut,
                                                   int32_t nbInputs, int32_t nbOutputs) noexcept {
  if (!ioCountOk(nbInputs, nbOutputs) || inOut == nullptr || pos < 0 || pos > kPosY) {
    return false;
  }
  int32_t types[kPosY + 1]{};
  bool linear[kPosY + 1]{};
  for (int32_t i = 0; i <= pos; ++i) {
    types[i] = static_cast<int32_t>(inOut[i].desc.type);
    linear[i] = inOut[i].desc.format == TensorFormat::kLINEAR;
  }
  return supportsIo(pos, types, linear);
}

int32_t WinogradConvPlugin::getNbOutputs() const noexcept { return kNbOutputs; }

// The largest the kernel asks for at the profile's min, opt and max shapes; shapes in between
// are covered as long as wno_cuda_workspace_size does not decrease with N, H or W. The
// transformed weights live in plugin-owned memory, not here: TensorRT's workspace does not
// persist between enqueues.
size_t WinogradConvPlugin::getWorkspaceSize(const DynamicPluginTensorDesc* inputs, int32_t nbInputs,
                                            const DynamicPluginTensorDesc* outputs,
                                            int32_t nbOutputs) const noexcept {
  if (!ioCountOk(nbInputs, nbOutputs) || inputs == nullptr || outputs == nullptr) {
    return 0;
  }
  wno_dtype dtype{};
  if (!toWnoDtype(static_cast<int32_t>(inputs[kPosX].desc.type), dtype)) {
    return 0;
  }
  const Shape xs[3] = {toShape(inputs[kPosX].min), toShape(inputs[kPosX].opt),
                       toShape(inputs[kPosX].max)};
  return profileWorkspace(xs, 3, toShape(inputs[kPosWeight].max), mParams, dtype,
                          &wno_cuda_workspace_size);
}

const char* WinogradConvPlugin::getTimingCacheID() noexcept { return mDescription.c_str(); }

const char* WinogradConvPlugin::getMetadataString() noexcept { return mDescription.c_str(); }

int32_t WinogradConvPlugin::onShapeChange(const PluginTensorDesc* in, int32_t nbInputs,
                                          const PluginTensorDesc* out, int32_t nbOutputs) noexcept {
  try {
    if (!ioCountOk(nbInputs, nbOutputs) || in == nullptr || out == nullptr) {
      return reportError("onShapeChange", ioCountMessage(nbInputs, nbOutputs));
    }
    const Shape x = toShape(in[kPosX].dims);
    const Shape weight = toShape(in[kPosWeight].dims);
    const std::string problem = checkShapes(x, weight, toShape(in[kPosBias].dims), mParams);
    if (!problem.empty()) {
      return reportError("onShapeChange", problem);
    }
    wno_conv_desc desc{};
    if (makeDesc(x, weight, mParams, desc) == DescStatus::kINVALID) {
      return reportError("onShapeChange", "shapes out of the kernel's range");
    }
    return 0;
  } catch (...) {
    return reportException("onShapeChange");
  }
}

int32_t WinogradConvPlugin::enqueue(const PluginTensorDesc* inputDesc,
                                    const PluginTensorDesc* outputDesc, const void* const* inputs,
                                    void* const* outputs, void* workspace,
                                    cudaStream_t stream) noexcept {
  try {
    if (inputDesc == nullptr || outputDesc == nullptr || inputs == nullptr || outputs == nullptr) {
      return reportError("enqueue", "null tensor descriptors or pointers");
    }
    wno_conv_desc desc{};
    const DescStatus shape = makeDesc(toShape(inputDesc[kPosX].dims),
                                      toShape(inputDesc[kPosWeight].dims), mParams, desc);
    if (shape == DescStatus::kEMPTY) {
      return 0;
    }
    wno_dtype dtype{};
    if (shape != DescStatus::kOK ||
        !toWnoDtype(static_cast<int32_t>(inputDesc[kPosX].type), dtype)) {
      return reportError("enqueue", "unsupported shapes or data type");
    }
    WeightKey key;
    key.weight = inputs[kPosWeight];
    key.bias = inputs[kPosBias];
    key.inChannels = desc.in_channels;
    key.outChannels = desc.out_channels;
    key.tile = desc.tile;
    key.padding = desc.padding;
    key.dtype = dtype;
    key.weightHalf = inputDesc[kPosWeight].type == DataType::kHALF;
    key.biasHalf = inputDesc[kPosBias].type == DataType::kHALF;

    if (!mWeights) {
      mWeights = std::make_unique<WeightCache>();
    }
    const int64_t transformsBefore = mWeights->transformCount();
    std::string error;
    wno_status status = mWeights->prepare(key, desc, stream, error);
    if (status != WNO_SUCCESS) {
      return reportError("enqueue", error);
    }
    if (mWeights->transformCount() != transformsBefore) {
      logMessage(ILogger::Severity::kVERBOSE, "enqueue",
                 ("transformed weights K=" + std::to_string(desc.out_channels) +
                  " C=" + std::to_string(desc.in_channels) + " " + mDescription)
                     .c_str());
    }

    const size_t workspaceBytes = wno_cuda_workspace_size(&desc, dtype);
    if (workspaceBytes > 0 && workspace == nullptr) {
      return reportError("enqueue", "TensorRT gave no workspace");
    }
    status = wno_cuda_conv2d(&desc, dtype, inputs[kPosX], mWeights->transformed(),
                             mWeights->bias(inputs[kPosBias]), outputs[0], workspace,
                             workspaceBytes, stream);
    if (status != WNO_SUCCESS) {
      return reportError("enqueue", wnoMessage("wno_cuda_conv2d", status));
    }
    return 0;
  } catch (...) {
    return reportException("enqueue");
  }
}

// One plugin object, hence one transformed-weight copy, per execution context.
IPluginV3* WinogradConvPlugin::attachToContext(IPluginResourceContext* /* context */) noexcept {
  return clone();
}

const PluginFieldCollection* WinogradConvPlugin::getFieldsToSerialize() noexcept {
  mSerializedParams = mParams;
  FieldView views[kSerializedFieldCount];
  const int32_t count = serializeFields(mSerializedParams, views, kSerializedFieldCount);
  for (int32_t i = 0; i < count; ++i) {
    mSerializedFields[i] = PluginField(
        views[i].name, views[i].data, static_cast<PluginFieldType>(views[i].type), views[i].length);
  }
  mSerializedCollection.nbFields = count;
  mSerializedCollection.fields = mSerializedFields;
  return &mSerializedCollection;
}

}  // namespace trt
}  // namespace wno
