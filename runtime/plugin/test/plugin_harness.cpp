// Host test of the TensorRT-facing plugin code, run without libnvinfer and without a GPU.
//
// CMake target wno_trt_plugin_harness (WNO_BUILD_TESTS=ON, WNO_TRT_HARNESS_INCLUDE_DIR=<a
// TensorRT include/ directory>; tests/test_trt_plugin_host.py): the plugin's .cpp sources (not
// weight_cast.cu) with this file, which stands in for what the process would otherwise get from
// elsewhere:
//   - getPluginRegistry() / getLogger(): the two libnvinfer entry points the plugin calls;
//     a recording registry and logger,
//   - the CUDA runtime calls of weight_cache.cpp, over host memory ("device" = heap),
//   - the kernel ABI (wno_cuda_*) as recorders, and half_to_float on the host,
//   - IExprBuilder / IDimensionExpr as affine expressions "symbol + offset".
// The executable runs every check, prints "ok NAME" or "FAIL NAME: why", and exits non-zero on
// any failure.
#include "NvInferRuntime.h"
#include "plugin_fields.h"
#include "plugin_rules.h"
#include "weight_cast.h"
#include "winograd_conv_plugin.h"

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace nvinfer1;

// ---- recording logger and registry (libnvinfer) --------------------------------------------

namespace {

struct LogLine {
  ILogger::Severity severity;
  std::string text;
};

class RecordingLogger : public ILogger {
 public:
  void log(Severity severity, const AsciiChar* msg) noexcept override {
    lines.push_back(LogLine{severity, msg ? msg : ""});
  }
  std::vector<LogLine> lines;
};

struct Registration {
  IPluginCreatorInterface* creator;
  std::string plugin_namespace;
};

class FakeRegistry : public IPluginRegistry {
 public:
  std::vector<Registration> registrations;

#if NV_TENSORRT_MAJOR < 11
  bool registerCreator(IPluginCreator&, AsciiChar const* const) noexcept override { return false; }
  IPluginCreator* const* getPluginCreatorList(int32_t* const n) const noexcept override {
    *n = 0;
    return nullptr;
  }
  IPluginCreator* getPluginCreator(const AsciiChar* const, const AsciiChar* const,
                                   const AsciiChar* const) noexcept override {
    return nullptr;
  }
  bool deregisterCreator(const IPluginCreator&) noexcept override { return false; }
#endif
#if NV_TENSORRT_MAJOR > 10 || NV_TENSORRT_MINOR >= 10
  IPluginCreatorInterface* const* getAllCreatorsRecursive(int32_t* const n) noexcept override {
    *n = 0;
    return nullptr;
  }
#endif
  void setErrorRecorder(IErrorRecorder* const) noexcept override {}
  IErrorRecorder* getErrorRecorder() const noexcept override { return nullptr; }
  bool isParentSearchEnabled() const override { return false; }
  void setParentSearchEnabled(const bool) override {}
  PluginLibraryHandle loadLibrary(const AsciiChar*) noexcept override { return nullptr; }
  void deregisterLibrary(PluginLibraryHandle) noexcept override {}
  bool registerCreator(IPluginCreatorInterface& creator,
                       const AsciiChar* const ns) noexcept override {
    registrations.push_back(Registration{&creator, ns ? ns : ""});
    return true;
  }
  IPluginCreatorInterface* const* getAllCreators(int32_t* const n) const noexcept override {
    *n = 0;
    return nullptr;
  }
  IPluginCreatorInterface* getCreator(const AsciiChar* const, const AsciiChar* const,
                                      const AsciiChar* const) noexcept override {
    return nullptr;
  }
  bool deregisterCreator(const IPluginCreatorInterface&) noexcept override { return false; }
  IPluginResource* acquirePluginResource(const AsciiChar*, IPluginResource*) noexcept override {
    return nullptr;
  }
  int32_t releasePluginResource(const AsciiChar*) noexcept override { return 0; }
};

// Function-local statics: the plugin's static registrar may run before this file's globals.
RecordingLogger& logger() {
  static RecordingLogger instance;
  return instance;
}

FakeRegistry& registry() {
  static FakeRegistry instance;
  return instance;
}

}  // namespace

extern "C" IPluginRegistry* getPluginRegistry() noexcept { return &registry(); }

extern "C" ILogger* getLogger() noexcept { return &logger(); }

// ---- CUDA runtime over host memory -----------------------------------------------------------

namespace {

const cudaStream_t kCapturingStream = reinterpret_cast<cudaStream_t>(0xCA97);
std::map<void*, size_t> g_live;  // "device" allocations
bool g_fail_malloc = false;
int g_half_to_float_calls = 0;

float half_bits_to_float(uint16_t h) {
  const int sign = h >> 15;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  float value;
  if (exponent == 0) {
    value = std::ldexp(static_cast<float>(mantissa), -24);
  } else if (exponent == 31) {
    value = mantissa ? NAN : INFINITY;
  } else {
    value = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  }
  return sign ? -value : value;
}

}  // namespace

extern "C" {
cudaError_t CUDARTAPI cudaMalloc(void** dev_ptr, size_t size) {
  if (g_fail_malloc) {
    return cudaErrorMemoryAllocation;
  }
  *dev_ptr = std::malloc(size);
  g_live[*dev_ptr] = size;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaFree(void* dev_ptr) {
  if (dev_ptr != nullptr) {
    g_live.erase(dev_ptr);
    std::free(dev_ptr);
  }
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  *status =
      stream == kCapturingStream ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}

const char* CUDARTAPI cudaGetErrorName(cudaError_t error) {
  return error == cudaErrorMemoryAllocation ? "cudaErrorMemoryAllocation" : "cudaErrorFake";
}

const char* CUDARTAPI cudaGetErrorString(cudaError_t) { return "fake CUDA runtime"; }
}

namespace wno {
namespace trt {
cudaError_t half_to_float(const void* src, float* dst, size_t count, cudaStream_t) noexcept {
  ++g_half_to_float_calls;
  const auto* bits = static_cast<const uint16_t*>(src);
  for (size_t i = 0; i < count; ++i) {
    dst[i] = half_bits_to_float(bits[i]);
  }
  return cudaSuccess;
}
}  // namespace trt
}  // namespace wno

// ---- kernel ABI recorders ----------------------------------------------------------------------

namespace {

struct KernelLog {
  int transforms{0};
  int convs{0};
  int v2_transforms{0};  // of which through wno_cuda_v2_* (the tensor-core kernel)
  int v2_convs{0};
  int v2_math{-1};
  std::vector<float> transformed_from;  // the float32 weights the last transform read
  std::vector<float> last_bias;         // the float32 bias the last conv read
  const void* last_bias_pointer{nullptr};
  const void* last_transformed{nullptr};
  size_t last_workspace_bytes{0};
  void* last_workspace{nullptr};
  wno_dtype last_dtype{WNO_FLOAT32};
  wno_conv_desc last_desc{};
  wno_status conv_status{WNO_SUCCESS};
};

KernelLog g_kernel;
bool g_v2_supported[2] = {true, true};  // wno_cuda_v2_supported per wno_dtype

size_t element_size(wno_dtype dtype) { return dtype == WNO_FLOAT16 ? 2 : 4; }

}  // namespace

extern "C" {
// As the real kernel: a^2 positions, a on a line (dims 1), whose weight is K, C, 3.
size_t wno_cuda_weight_size(const wno_conv_desc* d, wno_dtype dtype) {
  const size_t a = static_cast<size_t>(d->tile) + 2;
  const size_t positions = d->dims == 1 ? a : a * a;
  return static_cast<size_t>(d->out_channels) * d->in_channels * positions * element_size(dtype);
}

wno_status wno_cuda_transform_weights(const wno_conv_desc* d, wno_dtype, const float* weight,
                                      void* transformed, void*) {
  ++g_kernel.transforms;
  const size_t n = static_cast<size_t>(d->out_channels) * d->in_channels * (d->dims == 1 ? 3 : 9);
  g_kernel.transformed_from.assign(weight, weight + n);
  g_kernel.last_transformed = transformed;
  return WNO_SUCCESS;
}

size_t wno_cuda_workspace_size(const wno_conv_desc* d, wno_dtype dtype) {
  return static_cast<size_t>(d->batch) * d->in_channels * d->height * d->width *
             element_size(dtype) +
         64;
}

wno_status wno_cuda_conv2d(const wno_conv_desc* d, wno_dtype dtype, const void*,
                           const void* transformed, const float* bias, void*, void* workspace,
                           size_t workspace_bytes, void*) {
  ++g_kernel.convs;
  g_kernel.last_desc = *d;
  g_kernel.last_dtype = dtype;
  g_kernel.last_transformed = transformed;
  g_kernel.last_bias_pointer = bias;
  g_kernel.last_bias.assign(bias, bias + d->out_channels);
  g_kernel.last_workspace = workspace;
  g_kernel.last_workspace_bytes = workspace_bytes;
  return g_kernel.conv_status;
}

// Kernel v2 has no 1-D path, as the real one: no size, WNO_ERROR_UNSUPPORTED.
size_t wno_cuda_v2_weight_size(const wno_conv_desc* d, wno_dtype dtype) {
  return d->dims == 1 ? 0 : wno_cuda_weight_size(d, dtype) + 256;  // another layout, another size
}

wno_status wno_cuda_v2_transform_weights(const wno_conv_desc* d, wno_dtype dtype,
                                         const float* weight, void* transformed, void* stream) {
  if (d->dims == 1) return WNO_ERROR_UNSUPPORTED;
  ++g_kernel.v2_transforms;
  return wno_cuda_transform_weights(d, dtype, weight, transformed, stream);
}

wno_status wno_cuda_v2_conv2d(const wno_conv_desc* d, wno_dtype dtype, wno_cuda_math math,
                              const void* x, const void* transformed, const float* bias, void* y,
                              void* workspace, size_t workspace_bytes, void* stream) {
  if (d->dims == 1) return WNO_ERROR_UNSUPPORTED;
  ++g_kernel.v2_convs;
  g_kernel.v2_math = math;
  return wno_cuda_conv2d(d, dtype, x, transformed, bias, y, workspace, workspace_bytes, stream);
}

int wno_cuda_v2_supported(wno_dtype dtype) { return g_v2_supported[dtype == WNO_FLOAT16] ? 1 : 0; }

const char* wno_status_string(wno_status status) {
  return status == WNO_SUCCESS ? "success" : status == WNO_ERROR_CUDA ? "CUDA error" : "error";
}

const char* wno_cuda_last_error(void) { return "fake kernel failure"; }
}

// ---- affine dimension expressions ------------------------------------------------------------

namespace {

// symbol + offset; symbol "" is a constant.
class Expr : public IDimensionExpr {
 public:
  Expr(std::string symbol, int64_t offset) : symbol_(std::move(symbol)), offset_(offset), v_(this) {
    mImpl = &v_;
  }
  ~Expr() noexcept override = default;
  const std::string& symbol() const { return symbol_; }
  int64_t offset() const { return offset_; }
  std::string str() const {
    if (symbol_.empty()) {
      return std::to_string(offset_);
    }
    return offset_ == 0 ? symbol_ : symbol_ + (offset_ > 0 ? "+" : "") + std::to_string(offset_);
  }

 private:
  struct V : apiv::VDimensionExpr {
    explicit V(Expr* e) : e(e) {}
    bool isConstant() const override { return e->symbol_.empty(); }
    int64_t getConstantValue() const override {
      return e->symbol_.empty() ? e->offset_ : INT64_MIN;
    }
    bool isSizeTensor() const override { return false; }
    Expr* e;
  };
  std::string symbol_;
  int64_t offset_;
  V v_;
};

class Builder : public IExprBuilder {
 public:
  Builder() : v_(this) { mImpl = &v_; }
  ~Builder() noexcept override = default;
  const Expr* make(std::string symbol, int64_t offset) {
    pool_.push_back(std::make_unique<Expr>(std::move(symbol), offset));
    return pool_.back().get();
  }
  bool unsupported{false};

 private:
  struct V : apiv::VExprBuilder {
    explicit V(Builder* b) : b(b) {}
    const IDimensionExpr* constant(int64_t value) override { return b->make("", value); }
    const IDimensionExpr* operation(DimensionOperation op, const IDimensionExpr& first,
                                    const IDimensionExpr& second) override {
      const auto& x = static_cast<const Expr&>(first);
      const auto& y = static_cast<const Expr&>(second);
      if ((op != DimensionOperation::kSUM && op != DimensionOperation::kSUB) ||
          !y.symbol().empty()) {
        b->unsupported = true;
        return nullptr;
      }
      const int64_t offset =
          op == DimensionOperation::kSUM ? x.offset() + y.offset() : x.offset() - y.offset();
      return b->make(x.symbol(), offset);
    }
    const IDimensionExpr* declareSizeTensor(int32_t, const IDimensionExpr&,
                                            const IDimensionExpr&) override {
      b->unsupported = true;
      return nullptr;
    }
    Builder* b;
  };
  V v_;
  std::vector<std::unique_ptr<Expr>> pool_;
};

// ---- checks ------------------------------------------------------------------------------------

int g_failures = 0;
int g_checks = 0;

void check(bool ok, const char* name, const std::string& why = std::string()) {
  ++g_checks;
  if (ok) {
    std::printf("ok %s\n", name);
  } else {
    ++g_failures;
    std::printf("FAIL %s: %s\n", name, why.c_str());
  }
}

bool logged(ILogger::Severity severity, const char* needle) {
  for (const LogLine& line : logger().lines) {
    if (line.severity == severity && line.text.find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string last_log() {
  return logger().lines.empty() ? std::string("(no log)") : logger().lines.back().text;
}

IPluginCreatorV3One* the_creator() {
  return registry().registrations.empty()
             ? nullptr
             : static_cast<IPluginCreatorV3One*>(registry().registrations.front().creator);
}

struct OwnedPlugin {
  explicit OwnedPlugin(IPluginV3* p = nullptr) : plugin(p) {}
  ~OwnedPlugin() { delete plugin; }
  OwnedPlugin(const OwnedPlugin&) = delete;
  OwnedPlugin& operator=(const OwnedPlugin&) = delete;
  IPluginV3OneBuild* build() const {
    return static_cast<IPluginV3OneBuild*>(
        plugin->getCapabilityInterface(PluginCapabilityType::kBUILD));
  }
  IPluginV3OneRuntime* runtime() const {
    return static_cast<IPluginV3OneRuntime*>(
        plugin->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
  }
  IPluginV3OneCore* core() const {
    return static_cast<IPluginV3OneCore*>(
        plugin->getCapabilityInterface(PluginCapabilityType::kCORE));
  }
  IPluginV3* plugin;
};

IPluginV3* create(int32_t tile, int32_t padding, TensorRTPhase phase = TensorRTPhase::kBUILD) {
  const char version[] = "1";
  const char name_space[] = "";
  const int64_t extra = 7;
  std::vector<PluginField> fields{
      PluginField("tile", &tile, PluginFieldType::kINT32, 1),
      PluginField("padding", &padding, PluginFieldType::kINT32, 1),
      PluginField("plugin_version", version, PluginFieldType::kCHAR, 1),
      PluginField("plugin_namespace", name_space, PluginFieldType::kCHAR, 0),
      PluginField("some_future_attribute", &extra, PluginFieldType::kINT64, 1),
  };
  PluginFieldCollection fc{static_cast<int32_t>(fields.size()), fields.data()};
  return the_creator()->createPlugin("layer0", &fc, phase);
}

Dims dims(std::vector<int64_t> values) {
  Dims d{};
  d.nbDims = static_cast<int32_t>(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    d.d[i] = values[i];
  }
  return d;
}

PluginTensorDesc tensor(std::vector<int64_t> shape, DataType type) {
  PluginTensorDesc t{};
  t.dims = dims(std::move(shape));
  t.type = type;
  t.format = TensorFormat::kLINEAR;
  t.scale = 1.0F;
  return t;
}

// ---- the checks --------------------------------------------------------------------------------

void check_registration() {
  const auto& regs = registry().registrations;
  check(regs.size() == 1, "registered exactly once",
        std::to_string(regs.size()) + " registrations");
  if (regs.size() != 1) {
    return;
  }
  check(regs[0].plugin_namespace.empty(), "registered in the empty namespace");
  IPluginCreatorV3One* c = the_creator();
  check(std::string(c->getInterfaceInfo().kind) == "PLUGIN CREATOR_V3ONE",
        "creator is an IPluginCreatorV3One", c->getInterfaceInfo().kind);
  check(std::string(c->getPluginName()) == "WinogradConv" &&
            std::string(c->getPluginVersion()) == "1" &&
            std::string(c->getPluginNamespace()).empty(),
        "creator name/version/namespace = WinogradConv/1/\"\"");
  const PluginFieldCollection* names = c->getFieldNames();
  bool ok = names != nullptr && names->nbFields == 2 &&
            std::string(names->fields[0].name) == "tile" &&
            std::string(names->fields[1].name) == "padding" &&
            names->fields[0].type == PluginFieldType::kINT32 &&
            names->fields[1].type == PluginFieldType::kINT32;
  check(ok, "getFieldNames lists tile and padding as kINT32");
}

void check_create() {
  logger().lines.clear();
  OwnedPlugin p(create(4, 1));
  check(p.plugin != nullptr, "createPlugin from ONNX-style fields", last_log());
  if (!p.plugin) {
    return;
  }
  check(logged(ILogger::Severity::kVERBOSE, "some_future_attribute"),
        "unknown field ignored with a verbose log");
  check(!logged(ILogger::Severity::kVERBOSE, "plugin_version"), "plugin_version skipped silently");
  check(std::string(p.plugin->getInterfaceInfo().kind) == "PLUGIN", "plugin is an IPluginV3",
        p.plugin->getInterfaceInfo().kind);
  check(p.core() && std::string(p.core()->getInterfaceInfo().kind) == "PLUGIN_V3ONE_CORE" &&
            p.build() && std::string(p.build()->getInterfaceInfo().kind) == "PLUGIN_V3ONE_BUILD" &&
            p.runtime() &&
            std::string(p.runtime()->getInterfaceInfo().kind) == "PLUGIN_V3ONE_RUNTIME",
        "capability interfaces core/build/runtime");
  check(std::string(p.core()->getPluginName()) == "WinogradConv" &&
            std::string(p.core()->getPluginVersion()) == "1" &&
            std::string(p.core()->getPluginNamespace()).empty(),
        "plugin name/version/namespace");
  check(std::string(p.build()->getMetadataString()) == "tile=4,padding=1" &&
            std::string(p.build()->getTimingCacheID()) == "tile=4,padding=1",
        "metadata and timing-cache ID", p.build()->getMetadataString());
  check(p.build()->getNbOutputs() == 1, "one output");

  struct Bad {
    const char* name;
    std::vector<PluginField> fields;
    const char* message;
  };
  const int32_t eight = 8, four = 4, one = 1, two = 2;
  const float fourf = 4.0F;
  const int32_t pair[2] = {4, 4};
  auto field = [](const char* name, const void* data, PluginFieldType type, int32_t length = 1) {
    return PluginField(name, data, type, length);
  };
  const PluginField padding1 = field("padding", &one, PluginFieldType::kINT32);
  const PluginField tile4 = field("tile", &four, PluginFieldType::kINT32);
  std::vector<Bad> bad{
      {"tile 8 rejected",
       {field("tile", &eight, PluginFieldType::kINT32), padding1},
       "tile must be 2, 4 or 6"},
      {"padding 2 rejected",
       {tile4, field("padding", &two, PluginFieldType::kINT32)},
       "padding must be 0 or 1"},
      {"missing padding rejected", {tile4}, "'padding' is missing"},
      {"float tile rejected",
       {field("tile", &fourf, PluginFieldType::kFLOAT32), padding1},
       "must be an integer"},
      {"two-element tile rejected",
       {field("tile", pair, PluginFieldType::kINT32, 2), padding1},
       "exactly one value"},
  };
  for (const Bad& b : bad) {
    logger().lines.clear();
    PluginFieldCollection fc{static_cast<int32_t>(b.fields.size()), b.fields.data()};
    IPluginV3* plugin = the_creator()->createPlugin("bad", &fc, TensorRTPhase::kBUILD);
    check(plugin == nullptr && logged(ILogger::Severity::kERROR, b.message), b.name, last_log());
    delete plugin;
  }
  logger().lines.clear();
  check(the_creator()->createPlugin("null", nullptr, TensorRTPhase::kBUILD) == nullptr &&
            logged(ILogger::Severity::kERROR, "no field collection"),
        "null field collection rejected", last_log());
}

void check_serialization() {
  for (int32_t tile : {2, 4, 6}) {
    for (int32_t padding : {0, 1}) {
      OwnedPlugin p(create(tile, padding));
      const PluginFieldCollection* fc = p.runtime()->getFieldsToSerialize();
      bool ok = fc != nullptr && fc->nbFields == 2;
      OwnedPlugin q(ok ? the_creator()->createPlugin("layer0", fc, TensorRTPhase::kRUNTIME)
                       : nullptr);
      ok = ok && q.plugin != nullptr &&
           std::string(q.build()->getMetadataString()) ==
               std::string(p.build()->getMetadataString());
      const std::string name = "serialise round trip tile=" + std::to_string(tile) +
                               " padding=" + std::to_string(padding);
      check(ok, name.c_str(), last_log());
    }
  }
}

void check_output_shapes() {
  for (int32_t padding : {0, 1}) {
    OwnedPlugin p(create(4, padding));
    Builder b;
    DimsExprs in[3]{};
    in[0].nbDims = 4;
    in[0].d[0] = b.make("N", 0);
    in[0].d[1] = b.make("", 20);
    in[0].d[2] = b.make("H", 0);
    in[0].d[3] = b.make("W", 0);
    in[1].nbDims = 4;
    in[1].d[0] = b.make("", 32);
    in[1].d[1] = b.make("", 20);
    in[1].d[2] = b.make("", 3);
    in[1].d[3] = b.make("", 3);
    in[2].nbDims = 1;
    in[2].d[0] = b.make("", 32);
    DimsExprs out[1]{};
    const int32_t status = p.build()->getOutputShapes(in, 3, nullptr, 0, out, 1, b);
    std::string got;
    for (int32_t i = 0; status == 0 && i < out[0].nbDims; ++i) {
      got += (i ? "," : "") + static_cast<const Expr*>(out[0].d[i])->str();
    }
    const std::string want = padding == 1 ? "N,32,H,W" : "N,32,H-2,W-2";
    const std::string name = "getOutputShapes symbolic, padding " + std::to_string(padding);
    check(status == 0 && !b.unsupported && got == want, name.c_str(),
          "got (" + got + ") want (" + want + ")");
  }
  for (int32_t padding : {0, 1}) {  // a line: (N, C, W) with (K, C, 3)
    OwnedPlugin p(create(4, padding));
    Builder b;
    DimsExprs in[3]{};
    in[0].nbDims = 3;
    in[0].d[0] = b.make("N", 0);
    in[0].d[1] = b.make("", 20);
    in[0].d[2] = b.make("W", 0);
    in[1].nbDims = 3;
    in[1].d[0] = b.make("", 32);
    in[1].d[1] = b.make("", 20);
    in[1].d[2] = b.make("", 3);
    in[2].nbDims = 1;
    in[2].d[0] = b.make("", 32);
    DimsExprs out[1]{};
    const int32_t status = p.build()->getOutputShapes(in, 3, nullptr, 0, out, 1, b);
    std::string got;
    for (int32_t i = 0; status == 0 && i < out[0].nbDims; ++i) {
      got += (i ? "," : "") + static_cast<const Expr*>(out[0].d[i])->str();
    }
    const std::string want = padding == 1 ? "N,32,W" : "N,32,W-2";
    const std::string name = "getOutputShapes of a line, padding " + std::to_string(padding);
    check(status == 0 && !b.unsupported && got == want, name.c_str(),
          "got (" + got + ") want (" + want + ")");
    in[1].nbDims = 4;
    in[1].d[3] = b.make("", 3);
    logger().lines.clear();
    check(p.build()->getOutputShapes(in, 3, nullptr, 0, out, 1, b) != 0 &&
              logged(ILogger::Severity::kERROR, "weight must be 3-D (K,C,3) for a 3-D X"),
          "getOutputShapes rejects a 3x3 weight on a line", last_log());
  }
  OwnedPlugin p(create(2, 0));
  Builder b;
  DimsExprs in[3]{};
  in[0].nbDims = 4;
  in[0].d[0] = b.make("", 1);
  in[0].d[1] = b.make("", 8);
  in[0].d[2] = b.make("", 2);
  in[0].d[3] = b.make("", 9);
  in[1].nbDims = 4;
  in[1].d[0] = b.make("", 4);
  in[1].d[1] = b.make("", 8);
  in[1].d[2] = b.make("", 3);
  in[1].d[3] = b.make("", 3);
  in[2].nbDims = 1;
  in[2].d[0] = b.make("", 4);
  DimsExprs out[1]{};
  logger().lines.clear();
  check(p.build()->getOutputShapes(in, 3, nullptr, 0, out, 1, b) != 0 &&
            logged(ILogger::Severity::kERROR, "too small"),
        "getOutputShapes rejects a 2-row input with padding 0", last_log());
  in[0].d[2] = b.make("", 9);
  in[1].d[1] = b.make("", 7);
  logger().lines.clear();
  check(p.build()->getOutputShapes(in, 3, nullptr, 0, out, 1, b) != 0 &&
            logged(ILogger::Severity::kERROR, "channels"),
        "getOutputShapes rejects a channel mismatch", last_log());
  logger().lines.clear();
  check(p.build()->getOutputShapes(in, 2, nullptr, 0, out, 1, b) != 0,
        "getOutputShapes rejects 2 inputs");
}

void check_types() {
  OwnedPlugin p(create(4, 1));
  DataType out{};
  DataType in[3] = {DataType::kFLOAT, DataType::kFLOAT, DataType::kFLOAT};
  check(p.build()->getOutputDataTypes(&out, 1, in, 3) == 0 && out == DataType::kFLOAT,
        "output type float");
  in[0] = DataType::kHALF;
  check(p.build()->getOutputDataTypes(&out, 1, in, 3) == 0 && out == DataType::kHALF,
        "output type half");
  in[0] = DataType::kINT8;
  logger().lines.clear();
  check(p.build()->getOutputDataTypes(&out, 1, in, 3) != 0 &&
            logged(ILogger::Severity::kERROR, "float32 or float16"),
        "int8 X rejected", last_log());

  // Every combination of {float, half, int8} x {linear, CHW32}: exactly three are accepted.
  const DataType types[3] = {DataType::kFLOAT, DataType::kHALF, DataType::kINT8};
  const TensorFormat formats[2] = {TensorFormat::kLINEAR, TensorFormat::kCHW32};
  int accepted = 0;
  bool expected_only = true;
  DynamicPluginTensorDesc io[4]{};
  for (int code = 0; code < 6 * 6 * 6 * 6; ++code) {
    int c = code;
    for (auto& t : io) {
      t.desc.type = types[c % 3];
      t.desc.format = formats[(c / 3) % 2];
      c /= 6;
    }
    bool all = true;
    for (int32_t pos = 0; pos < 4 && all; ++pos) {
      all = p.build()->supportsFormatCombination(pos, io, 3, 1);
    }
    if (all) {
      ++accepted;
      const bool linear = io[0].desc.format == TensorFormat::kLINEAR &&
                          io[1].desc.format == TensorFormat::kLINEAR &&
                          io[2].desc.format == TensorFormat::kLINEAR &&
                          io[3].desc.format == TensorFormat::kLINEAR;
      const DataType x = io[0].desc.type, w = io[1].desc.type, bias = io[2].desc.type,
                     y = io[3].desc.type;
      const DataType fp32 = DataType::kFLOAT, fp16 = DataType::kHALF;
      const bool known = (x == fp32 && w == fp32 && bias == fp32 && y == fp32) ||
                         (x == fp16 && w == fp32 && bias == fp32 && y == fp16) ||
                         (x == fp16 && w == fp16 && bias == fp16 && y == fp16);
      expected_only = expected_only && linear && known;
    }
  }
  check(accepted == 3 && expected_only,
        "supportsFormatCombination: fp32, fp16 X + fp32 W/B, all fp16; linear",
        std::to_string(accepted) + " combinations accepted");
  check(!p.build()->supportsFormatCombination(4, io, 3, 1) &&
            !p.build()->supportsFormatCombination(0, io, 2, 1),
        "supportsFormatCombination rejects bad positions/counts");
}

DynamicPluginTensorDesc dyn(std::vector<int64_t> desc, std::vector<int64_t> mn,
                            std::vector<int64_t> opt, std::vector<int64_t> mx, DataType type) {
  DynamicPluginTensorDesc d{};
  d.desc = tensor(std::move(desc), type);
  d.min = dims(std::move(mn));
  d.opt = dims(std::move(opt));
  d.max = dims(std::move(mx));
  return d;
}

void check_build_phase() {
  OwnedPlugin p(create(4, 1));
  for (DataType type : {DataType::kFLOAT, DataType::kHALF}) {
    DynamicPluginTensorDesc in[3] = {
        dyn({-1, 20, -1, -1}, {1, 20, 8, 8}, {2, 20, 64, 64}, {4, 20, 128, 96}, type),
        dyn({32, 20, 3, 3}, {32, 20, 3, 3}, {32, 20, 3, 3}, {32, 20, 3, 3}, DataType::kFLOAT),
        dyn({32}, {32}, {32}, {32}, DataType::kFLOAT),
    };
    DynamicPluginTensorDesc out[1] = {
        dyn({-1, 32, -1, -1}, {1, 32, 8, 8}, {2, 32, 64, 64}, {4, 32, 128, 96}, type)};
    const size_t elem = type == DataType::kHALF ? 2 : 4;
    const size_t want = 4 * 20 * 128 * 96 * elem + 64;
    const size_t got = p.build()->getWorkspaceSize(in, 3, out, 1);
    const std::string name = std::string("getWorkspaceSize = kernel's size at the profile max, ") +
                             (type == DataType::kHALF ? "fp16" : "fp32");
    check(got == want, name.c_str(), std::to_string(got) + " != " + std::to_string(want));
    check(p.build()->configurePlugin(in, 3, out, 1) == 0,
          "configurePlugin accepts a dynamic profile", last_log());
    in[1].desc.dims = dims({32, 20, 5, 5});
    logger().lines.clear();
    check(p.build()->configurePlugin(in, 3, out, 1) != 0 &&
              logged(ILogger::Severity::kERROR, "(K,C,3,3)"),
          "configurePlugin rejects a 5x5 weight", last_log());
  }
  DynamicPluginTensorDesc in[3] = {
      dyn({-1, 20, -1}, {1, 20, 8}, {2, 20, 256}, {4, 20, 1024}, DataType::kFLOAT),
      dyn({32, 20, 3}, {32, 20, 3}, {32, 20, 3}, {32, 20, 3}, DataType::kFLOAT),
      dyn({32}, {32}, {32}, {32}, DataType::kFLOAT),
  };
  DynamicPluginTensorDesc out[1] = {
      dyn({-1, 32, -1}, {1, 32, 8}, {2, 32, 256}, {4, 32, 1024}, DataType::kFLOAT)};
  const size_t want = 4 * 20 * 1024 * 4 + 64;  // the fake kernel's size at the max, height 1
  const size_t got = p.build()->getWorkspaceSize(in, 3, out, 1);
  check(got == want, "getWorkspaceSize of a line profile",
        std::to_string(got) + " != " + std::to_string(want));
  check(p.build()->configurePlugin(in, 3, out, 1) == 0, "configurePlugin accepts a line profile",
        last_log());
}

struct Io {
  std::vector<float> x, y, weight, bias;
  std::vector<uint16_t> weight_half, bias_half;
  std::vector<char> workspace;
};

int32_t run(IPluginV3OneRuntime* rt, Io& io, std::vector<int64_t> x_shape, int64_t k,
            DataType x_type, DataType w_type, cudaStream_t stream = nullptr) {
  const int64_t c = x_shape[1];
  const bool line = x_shape.size() == 3;  // (N, C, W) with a (K, C, 3) weight
  PluginTensorDesc in[3] = {
      tensor(x_shape, x_type),
      tensor(line ? std::vector<int64_t>{k, c, 3} : std::vector<int64_t>{k, c, 3, 3}, w_type),
      tensor({k}, w_type)};
  std::vector<int64_t> y_shape(x_shape);  // padding 1 in these checks: Y has X's extent
  y_shape[1] = k;
  PluginTensorDesc out[1] = {tensor(y_shape, x_type)};
  const bool half = w_type == DataType::kHALF;
  const void* inputs[3] = {
      io.x.data(), half ? static_cast<const void*>(io.weight_half.data()) : io.weight.data(),
      half ? static_cast<const void*>(io.bias_half.data()) : io.bias.data()};
  void* outputs[1] = {io.y.data()};
  if (rt->onShapeChange(in, 3, out, 1) != 0) {
    return -100;
  }
  return rt->enqueue(in, out, inputs, outputs, io.workspace.data(), stream);
}

Io make_io(int64_t k, int64_t c) {
  Io io;
  io.x.resize(2 * c * 16 * 16);
  io.y.resize(2 * k * 16 * 16);
  io.workspace.resize(1 << 20);
  for (int64_t i = 0; i < k * c * 9; ++i) {
    io.weight.push_back(static_cast<float>(i % 7) - 3.0F);
    const uint16_t bits[4] = {0x3C00, 0xC000, 0x3800, 0x0000};  // 1, -2, 0.5, 0
    io.weight_half.push_back(bits[i % 4]);
  }
  for (int64_t i = 0; i < k; ++i) {
    io.bias.push_back(0.25F * static_cast<float>(i));
    io.bias_half.push_back(i % 2 ? 0x3400 : 0xB400);  // 0.25, -0.25
  }
  return io;
}

void check_enqueue() {
  const int64_t k = 6, c = 5;
  {
    g_kernel = KernelLog{};
    OwnedPlugin built(create(4, 1));
    OwnedPlugin p(built.runtime()->attachToContext(nullptr));
    Io io = make_io(k, c);
    int32_t s1 = run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kFLOAT, DataType::kFLOAT);
    int32_t s2 = run(p.runtime(), io, {1, c, 16, 16}, k, DataType::kFLOAT, DataType::kFLOAT);
    int32_t s3 = run(p.runtime(), io, {2, c, 9, 13}, k, DataType::kFLOAT, DataType::kFLOAT);
    check(s1 == 0 && s2 == 0 && s3 == 0 && g_kernel.transforms == 1 && g_kernel.convs == 3,
          "fp32: weights transformed once over three enqueues of changing shapes",
          last_log() + "; transforms=" + std::to_string(g_kernel.transforms) +
              " convs=" + std::to_string(g_kernel.convs));
    check(g_kernel.transformed_from == io.weight && g_kernel.last_bias_pointer == io.bias.data(),
          "fp32: transform reads the weight input, conv reads the bias input");
    check(g_kernel.last_desc.batch == 2 && g_kernel.last_desc.in_channels == c &&
              g_kernel.last_desc.out_channels == k && g_kernel.last_desc.height == 9 &&
              g_kernel.last_desc.width == 13 && g_kernel.last_desc.tile == 4 &&
              g_kernel.last_desc.padding == 1 && g_kernel.last_dtype == WNO_FLOAT32,
          "fp32: kernel descriptor from the runtime shapes");
    check(g_kernel.last_workspace_bytes == static_cast<size_t>(2 * c * 9 * 13 * 4 + 64) &&
              g_kernel.last_workspace == io.workspace.data(),
          "fp32: TensorRT's workspace passed with the kernel's size for the actual shape");
    check(built.plugin != p.plugin && g_kernel.transforms == 1,
          "attachToContext clones without sharing state");

    std::vector<float> moved(io.weight);  // same values at a new address
    io.weight.swap(moved);
    s1 = run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kFLOAT, DataType::kFLOAT);
    check(s1 == 0 && g_kernel.transforms == 2, "a new weight address re-transforms");

    OwnedPlugin second(built.runtime()->attachToContext(nullptr));
    s1 = run(second.runtime(), io, {2, c, 16, 16}, k, DataType::kFLOAT, DataType::kFLOAT);
    check(s1 == 0 && g_kernel.transforms == 3, "a second execution context makes its own copy");

    s1 = run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kHALF, DataType::kFLOAT);
    check(s1 == 0 && g_kernel.transforms == 4 && g_kernel.last_dtype == WNO_FLOAT16 &&
              g_half_to_float_calls == 0,
          "a new I/O type re-transforms; float weights need no conversion");

    const int convs = g_kernel.convs;
    s1 = run(p.runtime(), io, {0, c, 16, 16}, k, DataType::kHALF, DataType::kFLOAT);
    check(s1 == 0 && g_kernel.convs == convs, "an empty batch is a no-op");

    s1 = run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kHALF, DataType::kFLOAT,
             kCapturingStream);
    check(s1 == 0 && g_kernel.convs == convs + 1,
          "enqueue inside graph capture after a warm-up works", last_log());
  }
  {
    g_kernel = KernelLog{};
    g_half_to_float_calls = 0;
    OwnedPlugin p(create(2, 1));
    Io io = make_io(k, c);
    const int32_t s = run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kHALF, DataType::kHALF);
    std::vector<float> want_weight, want_bias;
    for (uint16_t h : io.weight_half) {
      want_weight.push_back(half_bits_to_float(h));
    }
    for (uint16_t h : io.bias_half) {
      want_bias.push_back(half_bits_to_float(h));
    }
    check(s == 0 && g_half_to_float_calls == 2 && g_kernel.transformed_from == want_weight &&
              g_kernel.last_bias == want_bias &&
              g_kernel.last_bias_pointer != static_cast<const void*>(io.bias_half.data()),
          "fp16 weight/bias converted to float32 once for the kernel", last_log());
    run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kHALF, DataType::kHALF);
    check(g_half_to_float_calls == 2 && g_kernel.transforms == 1, "fp16 conversion not repeated");
  }
  {
    g_kernel = KernelLog{};
    OwnedPlugin p(create(4, 1));
    Io io = make_io(k, c);
    logger().lines.clear();
    int32_t s = run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kFLOAT, DataType::kFLOAT,
                    kCapturingStream);
    check(s != 0 && g_kernel.convs == 0 && logged(ILogger::Severity::kERROR, "CUDA graph capture"),
          "first enqueue inside graph capture refused with a message", last_log());
    {
      OwnedPlugin fresh(create(4, 1));  // p's buffer exists already (its onShapeChange made it)
      g_fail_malloc = true;
      logger().lines.clear();
      s = run(fresh.runtime(), io, {2, c, 16, 16}, k, DataType::kFLOAT, DataType::kFLOAT);
      g_fail_malloc = false;
      check(s == -100 && logged(ILogger::Severity::kERROR, "cudaMalloc"),
            "allocation failure reported by onShapeChange", last_log());
    }
    {
      OwnedPlugin fresh(create(4, 1));
      PluginTensorDesc in[3] = {tensor({2, c, 16, 16}, DataType::kFLOAT),
                                tensor({k, c, 3, 3}, DataType::kFLOAT),
                                tensor({k}, DataType::kFLOAT)};
      PluginTensorDesc out[1] = {tensor({2, k, 16, 16}, DataType::kFLOAT)};
      const size_t before = g_live.size();
      const int32_t shaped = fresh.runtime()->onShapeChange(in, 3, out, 1);
      const size_t after_shape = g_live.size();
      const void* inputs[3] = {io.x.data(), io.weight.data(), io.bias.data()};
      void* outputs[1] = {io.y.data()};
      const int32_t enq =
          fresh.runtime()->enqueue(in, out, inputs, outputs, io.workspace.data(), nullptr);
      check(shaped == 0 && enq == 0 && after_shape == before + 1 && g_live.size() == after_shape,
            "the weight buffer is allocated in onShapeChange; enqueue allocates nothing",
            last_log());
    }
    g_kernel.conv_status = WNO_ERROR_CUDA;
    logger().lines.clear();
    s = run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kFLOAT, DataType::kFLOAT);
    g_kernel.conv_status = WNO_SUCCESS;
    check(s != 0 && logged(ILogger::Severity::kERROR, "_conv2d: CUDA error: fake kernel failure"),
          "kernel failure reported with the kernel's message", last_log());
    PluginTensorDesc in[3] = {tensor({2, c, 16, 16}, DataType::kFLOAT),
                              tensor({k, c + 1, 3, 3}, DataType::kFLOAT),
                              tensor({k}, DataType::kFLOAT)};
    PluginTensorDesc out[1] = {tensor({2, k, 16, 16}, DataType::kFLOAT)};
    logger().lines.clear();
    check(p.runtime()->onShapeChange(in, 3, out, 1) != 0 &&
              logged(ILogger::Severity::kERROR, "channels"),
          "onShapeChange rejects a channel mismatch", last_log());
  }
  {
    // Kernel choice: v2 where the device supports the dtype, v1 elsewhere or when forced.
    Io io = make_io(k, c);
    g_kernel = KernelLog{};
    {
      OwnedPlugin p(create(6, 1));
      run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kHALF, DataType::kFLOAT);
      check(g_kernel.v2_transforms == 1 && g_kernel.v2_convs == 1 && g_kernel.v2_math == 0,
            "fp16: kernel v2 (scaled fp16 weights for F(6,3)) where supported", last_log());
      g_v2_supported[0] = false;  // float32 below sm_80
      run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kFLOAT, DataType::kFLOAT);
      check(g_kernel.transforms == 2 && g_kernel.v2_transforms == 1 && g_kernel.convs == 2 &&
                g_kernel.v2_convs == 1,
            "fp32 where v2 is unsupported: kernel v1, weights re-transformed for its layout",
            last_log());
      g_v2_supported[0] = true;
      setenv("WNO_CUDA_KERNEL", "1", 1);
      run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kHALF, DataType::kFLOAT);
      unsetenv("WNO_CUDA_KERNEL");
      check(g_kernel.transforms == 3 && g_kernel.v2_transforms == 1 && g_kernel.v2_convs == 1,
            "WNO_CUDA_KERNEL=1 forces kernel v1", last_log());
      run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kHALF, DataType::kFLOAT);
      check(g_kernel.transforms == 4 && g_kernel.v2_transforms == 2 && g_kernel.v2_convs == 2,
            "back to v2 without the variable", last_log());
    }
  }
  {
    // A line (N, C, W): kernel v1's 1-D path even where v2 runs the type (v2 has none); its
    // (K, C, 3) float16 weight converted to float32 for the kernel, K*C*3 values.
    g_kernel = KernelLog{};
    g_half_to_float_calls = 0;
    OwnedPlugin p(create(4, 1));
    Io io = make_io(k, c);
    const int32_t s = run(p.runtime(), io, {2, c, 200}, k, DataType::kHALF, DataType::kHALF);
    std::vector<float> want_weight;
    for (int64_t i = 0; i < k * c * 3; ++i) {
      want_weight.push_back(half_bits_to_float(io.weight_half[static_cast<size_t>(i)]));
    }
    const wno_conv_desc& d = g_kernel.last_desc;
    check(s == 0 && g_kernel.transforms == 1 && g_kernel.v2_transforms == 0 &&
              g_kernel.convs == 1 && g_kernel.v2_convs == 0,
          "a line runs kernel v1 where v2 is supported", last_log());
    check(d.dims == 1 && d.height == 1 && d.width == 200 && d.batch == 2 && d.in_channels == c &&
              d.out_channels == k && d.tile == 4 && d.padding == 1 &&
              g_kernel.last_dtype == WNO_FLOAT16,
          "a line's kernel descriptor: dims 1, height 1, the width from X");
    check(g_kernel.transformed_from == want_weight && g_half_to_float_calls == 2,
          "a line's (K,C,3) float16 weight converted to float32 once", last_log());
    check(g_kernel.last_workspace_bytes == static_cast<size_t>(2 * c * 200 * 2 + 64),
          "a line's workspace from its descriptor");
    run(p.runtime(), io, {2, c, 16, 16}, k, DataType::kHALF, DataType::kHALF);
    check(g_kernel.transforms == 2 && g_kernel.v2_transforms == 1 && g_kernel.v2_convs == 1,
          "a grid after a line: kernel v2, weights re-transformed for its rank", last_log());
  }
  check(g_live.empty(), "every device allocation freed with its plugin",
        std::to_string(g_live.size()) + " left");
}

}  // namespace

int main() {
  std::printf("TensorRT headers %d.%d.%d\n", NV_TENSORRT_MAJOR, NV_TENSORRT_MINOR,
              NV_TENSORRT_PATCH);
  check_registration();
  if (the_creator() == nullptr) {
    std::printf("FAIL no creator registered\n");
    return 1;
  }
  check_create();
  check_serialization();
  check_output_shapes();
  check_types();
  check_build_phase();
  check_enqueue();
  std::printf("%d checks, %d failed\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
