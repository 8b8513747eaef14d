// Registration: static only. REGISTER_TENSORRT_PLUGIN adds the creator to TensorRT's global
// registry when the library is loaded, which is what ctypes.CDLL(lib), trtexec --staticPlugins
// and polygraphy --plugins rely on. The library deliberately exports no getCreators() /
// setLoggerFinder(): IPluginRegistry::loadLibrary (trtexec --dynamicPlugins) would load it,
// run this static registration, then register the same creator again from getCreators() and
// fail on the duplicate. One way in, no double registration.
#include "winograd_conv_creator.h"

#include "plugin_fields.h"
#include "plugin_logging.h"
#include "winograd_conv_plugin.h"

#include <string>

using namespace nvinfer1;

namespace wno {
namespace trt {

#define WNO_SAME_FIELD_TYPE(theirs, ours)                                                     \
  static_assert(                                                                              \
      static_cast<int32_t>(PluginFieldType::theirs) == static_cast<int32_t>(FieldType::ours), \
      "nvinfer1::PluginFieldType::" #theirs " changed")
WNO_SAME_FIELD_TYPE(kFLOAT16, kFloat16);
WNO_SAME_FIELD_TYPE(kFLOAT32, kFloat32);
WNO_SAME_FIELD_TYPE(kFLOAT64, kFloat64);
WNO_SAME_FIELD_TYPE(kINT8, kInt8);
WNO_SAME_FIELD_TYPE(kINT16, kInt16);
WNO_SAME_FIELD_TYPE(kINT32, kInt32);
WNO_SAME_FIELD_TYPE(kCHAR, kChar);
WNO_SAME_FIELD_TYPE(kDIMS, kDims);
WNO_SAME_FIELD_TYPE(kUNKNOWN, kUnknown);
WNO_SAME_FIELD_TYPE(kBF16, kBf16);
WNO_SAME_FIELD_TYPE(kINT64, kInt64);
#undef WNO_SAME_FIELD_TYPE

WinogradConvPluginCreator::WinogradConvPluginCreator() {
  field_names_.emplace_back(kFieldTile, nullptr, PluginFieldType::kINT32, 1);
  field_names_.emplace_back(kFieldPadding, nullptr, PluginFieldType::kINT32, 1);
  field_collection_.nbFields = static_cast<int32_t>(field_names_.size());
  field_collection_.fields = field_names_.data();
}

const char* WinogradConvPluginCreator::getPluginName() const noexcept { return kPluginName; }

const char* WinogradConvPluginCreator::getPluginVersion() const noexcept { return kPluginVersion; }

const char* WinogradConvPluginCreator::getPluginNamespace() const noexcept {
  return kPluginNamespace;
}

const PluginFieldCollection* WinogradConvPluginCreator::getFieldNames() noexcept {
  return &field_collection_;
}

IPluginV3* WinogradConvPluginCreator::createPlugin(const char* name,
                                                   const PluginFieldCollection* fc,
                                                   TensorRTPhase phase) noexcept {
  try {
    const std::string where = std::string("createPlugin(") + (name ? name : "") + ", " +
                              (phase == TensorRTPhase::kBUILD ? "build" : "runtime") + ")";
    if (fc == nullptr) {
      report_error(where.c_str(), "no field collection");
      return nullptr;
    }
    std::vector<FieldView> views;
    if (fc->nbFields > 0 && fc->fields != nullptr) {
      views.reserve(static_cast<size_t>(fc->nbFields));
      for (int32_t i = 0; i < fc->nbFields; ++i) {
        const PluginField& f = fc->fields[i];
        views.push_back(FieldView{f.name, f.data, static_cast<FieldType>(f.type), f.length});
      }
    }
    ConvParams params;
    const int32_t count = fc->fields == nullptr ? fc->nbFields : static_cast<int32_t>(views.size());
    const FieldParse parsed = parse_fields(views.data(), count, params);
    if (parsed.status != FieldStatus::kOk) {
      report_error(where.c_str(), parsed.message);
      return nullptr;
    }
    for (const std::string& ignored : parsed.ignored) {
      const std::string message = "ignoring unknown field '" + ignored + "'";
      log_message(ILogger::Severity::kVERBOSE, where.c_str(), message.c_str());
    }
    return new WinogradConvPlugin(params);
  } catch (...) {
    report_exception("createPlugin");
  }
  return nullptr;
}

REGISTER_TENSORRT_PLUGIN(WinogradConvPluginCreator);

}  // namespace trt
}  // namespace wno
