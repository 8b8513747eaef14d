#include "plugin_logging.h"

#include "plugin_fields.h"

#include <cstdio>
#include <exception>

namespace wno {
namespace trt {

void log_message(nvinfer1::ILogger::Severity severity, const char* where,
                 const char* message) noexcept {
  try {
    const std::string line =
        std::string(kPluginName) + " " + (where ? where : "") + ": " + (message ? message : "");
    nvinfer1::ILogger* logger = ::getLogger();
    if (logger != nullptr) {
      logger->log(severity, line.c_str());
    } else if (severity <= nvinfer1::ILogger::Severity::kWARNING) {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  } catch (...) {
    // Out of memory while formatting a message: nothing sensible is left to report.
  }
}

int32_t report_error(const char* where, const char* message) noexcept {
  log_message(nvinfer1::ILogger::Severity::kERROR, where, message);
  return -1;
}

int32_t report_exception(const char* where) noexcept {
  try {
    throw;
  } catch (const std::exception& e) {
    return report_error(where, e.what());
  } catch (...) {
    return report_error(where, "unknown exception");
  }
}

}  // namespace trt
}  // namespace wno
