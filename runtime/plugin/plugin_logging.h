// Error reporting of the WinogradConv plugin: status codes out, messages through TensorRT's
// logger, and no exception ever crossing the plugin API.
#pragma once

#include "NvInferRuntime.h"

#include <cstdint>
#include <string>

namespace wno {
namespace trt {

// Logs "WinogradConv <where>: <message>" through ::getLogger(), the logger TensorRT hands to
// statically registered plugins (NVIDIA's own plugins do the same), or stderr without one.
void log_message(nvinfer1::ILogger::Severity severity, const char* where,
                 const char* message) noexcept;

// Logs an error and returns the non-zero status that TensorRT's plugin methods return.
int32_t report_error(const char* where, const char* message) noexcept;
inline int32_t report_error(const char* where, const std::string& message) noexcept {
  return report_error(where, message.c_str());
}

// For a catch (...) block: logs the exception in flight and returns the error status.
int32_t report_exception(const char* where) noexcept;

}  // namespace trt
}  // namespace wno
