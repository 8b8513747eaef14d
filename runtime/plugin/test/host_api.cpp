// C entry points over the TensorRT-free parts of the plugin (plugin_fields, plugin_rules), for
// tests/test_trt_plugin_host.py (ctypes): CMake target wno_trt_plugin_host (WNO_BUILD_TESTS=ON),
// with any C++17 compiler and no TensorRT.
// Nothing throws across this boundary: every entry point returns a status.
#include "plugin_fields.h"
#include "plugin_rules.h"

#include <cstring>
#include <exception>
#include <string>

using namespace wno::trt;

namespace {

void copy_message(const std::string& text, char* out, size_t capacity) noexcept {
  if (out != nullptr && capacity > 0) {
    const size_t n = text.size() < capacity - 1 ? text.size() : capacity - 1;
    std::memcpy(out, text.data(), n);
    out[n] = '\0';
  }
}

Shape make_shape(const int64_t* dims, int32_t nb_dims) noexcept {
  Shape s;
  s.nb_dims = nb_dims;
  for (int32_t i = 0; i < nb_dims && i < kMaxDims && dims != nullptr; ++i) {
    s.d[i] = dims[i];
  }
  return s;
}

// A fake wno_cuda_workspace_size: monotone in every dimension, records its calls.
int32_t g_workspace_calls = 0;

size_t fake_workspace(const wno_conv_desc* d, wno_dtype dtype) {
  ++g_workspace_calls;
  const size_t elem = dtype == WNO_FLOAT16 ? 2 : 4;
  return static_cast<size_t>(d->batch) * d->in_channels * d->height * d->width * elem + d->tile;
}

}  // namespace

#define WNO_TEST_API extern "C" __attribute__((visibility("default")))

// Status: 0 ok, else the FieldStatus value; -1 on an exception. `ignored` receives the ignored
// field names joined by ','.
WNO_TEST_API int32_t wno_trt_parse_fields(const FieldView* fields, int32_t count,
                                          ConvParams* params, char* message,
                                          size_t message_capacity, char* ignored,
                                          size_t ignored_capacity) {
  try {
    ConvParams parsed;
    const FieldParse result = parse_fields(fields, count, parsed);
    copy_message(result.message, message, message_capacity);
    std::string names;
    for (const std::string& name : result.ignored) {
      names += (names.empty() ? "" : ",") + name;
    }
    copy_message(names, ignored, ignored_capacity);
    if (result.status == FieldStatus::kOk && params != nullptr) {
      *params = parsed;
    }
    return static_cast<int32_t>(result.status);
  } catch (...) {
    return -1;
  }
}

WNO_TEST_API int32_t wno_trt_serialize_fields(const ConvParams* params, FieldView* out,
                                              int32_t capacity) {
  return params == nullptr ? 0 : serialize_fields(*params, out, capacity);
}

WNO_TEST_API int32_t wno_trt_describe(const ConvParams* params, char* out, size_t capacity) {
  try {
    copy_message(describe(*params), out, capacity);
    return 0;
  } catch (...) {
    return -1;
  }
}

WNO_TEST_API const char* wno_trt_field_status_name(int32_t status) {
  return field_status_name(static_cast<FieldStatus>(status));
}

WNO_TEST_API int32_t wno_trt_supports_io(int32_t pos, const int32_t* types, const int32_t* linear) {
  bool flags[kPosY + 1]{};
  for (int32_t i = 0; i <= pos && i <= kPosY && linear != nullptr; ++i) {
    flags[i] = linear[i] != 0;
  }
  return supports_io(pos, types, linear == nullptr ? nullptr : flags) ? 1 : 0;
}

WNO_TEST_API int64_t wno_trt_output_extent(int64_t in, int32_t padding) {
  return output_extent(in, padding);
}

// 0 when consistent, 1 with the reason in `message`, -1 on an exception.
WNO_TEST_API int32_t wno_trt_check_shapes(const int64_t* x, int32_t nx, const int64_t* w,
                                          int32_t nw, const int64_t* b, int32_t nb,
                                          const ConvParams* params, char* message,
                                          size_t capacity) {
  try {
    const std::string problem =
        check_shapes(make_shape(x, nx), make_shape(w, nw), make_shape(b, nb), *params);
    copy_message(problem, message, capacity);
    return problem.empty() ? 0 : 1;
  } catch (...) {
    return -1;
  }
}

WNO_TEST_API int32_t wno_trt_make_desc(const int64_t* x, int32_t nx, const int64_t* w, int32_t nw,
                                       const ConvParams* params, wno_conv_desc* desc) {
  return static_cast<int32_t>(make_desc(make_shape(x, nx), make_shape(w, nw), *params, *desc));
}

WNO_TEST_API int32_t wno_trt_to_wno_dtype(int32_t type, int32_t* dtype) {
  wno_dtype d{};
  const bool ok = to_wno_dtype(type, d);
  *dtype = static_cast<int32_t>(d);
  return ok ? 1 : 0;
}

// xs: `count` shapes of `rank` (3 or 4; the weight's too), row after row. Returns the workspace;
// *calls = how many times the (fake) kernel size function was asked.
WNO_TEST_API size_t wno_trt_profile_workspace(const int64_t* xs, int32_t count, int32_t rank,
                                              const int64_t* w, const ConvParams* params,
                                              int32_t dtype, int32_t* calls) {
  Shape shapes[8];
  const int32_t n = count < 8 ? count : 8;
  for (int32_t i = 0; i < n; ++i) {
    shapes[i] = make_shape(xs + rank * i, rank);
  }
  g_workspace_calls = 0;
  const size_t bytes = profile_workspace(shapes, n, make_shape(w, rank), *params,
                                         static_cast<wno_dtype>(dtype), &fake_workspace);
  *calls = g_workspace_calls;
  return bytes;
}

WNO_TEST_API int32_t wno_trt_weight_keys_equal(const WeightKey* a, const WeightKey* b) {
  return *a == *b ? 1 : 0;
}

WNO_TEST_API int32_t wno_trt_plan_weight_buffer(size_t transformed_bytes, int32_t in_channels,
                                                int32_t out_channels, int32_t weight_half,
                                                int32_t bias_half, int32_t dims,
                                                WeightBufferLayout* layout) {
  WeightKey key;
  key.in_channels = in_channels;
  key.out_channels = out_channels;
  key.weight_half = weight_half != 0;
  key.bias_half = bias_half != 0;
  key.dims = dims;
  return plan_weight_buffer(transformed_bytes, key, *layout) ? 1 : 0;
}

// The key onShapeChange makes for a descriptor (dims follows desc.dims).
WNO_TEST_API void wno_trt_make_weight_key(const wno_conv_desc* desc, int32_t dtype,
                                          int32_t weight_half, int32_t bias_half, int32_t kernel,
                                          WeightKey* key) {
  *key = make_weight_key(*desc, static_cast<wno_dtype>(dtype), weight_half != 0, bias_half != 0,
                         kernel);
}

// env: the value of $WNO_CUDA_KERNEL or null.
WNO_TEST_API int32_t wno_trt_choose_kernel(const char* env, int32_t v2_supported, int32_t dims) {
  return choose_kernel(env, v2_supported != 0, dims);
}

WNO_TEST_API size_t wno_trt_section_alignment() { return kSectionAlignment; }
